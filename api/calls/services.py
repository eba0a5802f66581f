"""Writes to the call model: joining, sessions, connections, tracks and the
lifecycle of a conference (ongoing / duration / end) and of its sessions.

Locking. Everything that decides whether a call starts or stops runs in a
transaction holding the conference row, then the session, then the
connection: always in that order, so two requests never wait for each
other in a cycle. Without the conference lock two connections closing at
once would each still see the other open, and the conference would never
end. Updates that only touch one connection (state, negotiations, tracks)
lock just that connection row and wait for nothing else while holding it.

What ends. A connection, session or conference that ends concerns the
layers above: the ingest sinks must stop accepting the connection's stats,
the quality detectors close what ended with it. This app does not know
them: each service that can end something returns an :class:`Ended`, after
its transaction committed, and its caller (``api.ingest``) announces it.

The locks are ``FOR NO KEY UPDATE``: they serialise these decisions, but
leave the rows' keys free, so the inserts of the hot path (stats samples,
events), whose foreign keys need only a key share of the conference,
session and connection rows, never wait for a call that is ending. On
SQLite the whole database is the lock.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max, Q

from api.calls.models import (
    Conference,
    ConferenceParticipant,
    Connection,
    Participant,
    Session,
    Track,
)
from api.common.errors import ApiError
from api.common.time import iso
from api.tenancy.models import App, AppUsageDay

NEGOTIATION_OPENING_STATES = {"have-local-offer", "have-remote-offer"}


@dataclass
class Ended:
    """What one lifecycle write ended, in the order it ended: connections,
    then the conference's call, then sessions. Empty when nothing ended
    (every end is recorded once: a repeated end returns nothing)."""

    connection_ids: list[uuid.UUID] = field(default_factory=list)
    # The conference whose last open connection ended, and when.
    conference: tuple[Conference, datetime] | None = None
    sessions: list[tuple[Session, datetime]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.connection_ids or self.conference or self.sessions)


def _seconds(start: datetime | None, end: datetime) -> int:
    if start is None:
        return 0
    return max(0, int((end - start).total_seconds()))


def conference_join(
    *,
    app: App,
    conference_id: str,
    conference_name: str | None,
    participant_id: str,
    participant_name: str | None,
) -> tuple[Conference, Participant]:
    """Get or create the conference and the participant of an ``/initialize``
    and link them. Concurrent joins of one conference converge on one row
    (unique (app, conference_id); the loser of the insert race reads the
    winner's row). Names are updated when given."""
    conference, created = Conference.objects.get_or_create(
        app=app,
        conference_id=conference_id,
        defaults={"conference_name": conference_name},
    )
    if not created and conference_name and conference.conference_name != conference_name:
        Conference.objects.filter(pk=conference.pk).update(conference_name=conference_name)
        conference.conference_name = conference_name
    participant = participant_get_or_create(
        app=app, participant_id=participant_id, participant_name=participant_name
    )
    conference_participant_link(conference_id=conference.pk, participant_id=participant.pk)
    return conference, participant


def participant_get_or_create(
    *, app: App | uuid.UUID, participant_id: str, participant_name: str | None, is_sfu: bool = False
) -> Participant:
    """The app's participant with that id, created on first sight (as a
    user at ``/initialize``, as a peer at ``addConnection``). A given name
    replaces the stored one; ``is_sfu`` only ever turns on. Concurrent
    calls converge on one row (unique (app, participant_id))."""
    app_id = app.pk if isinstance(app, App) else app
    participant, created = Participant.objects.get_or_create(
        app_id=app_id,
        participant_id=participant_id,
        defaults={"participant_name": participant_name, "is_sfu": is_sfu},
    )
    changes: dict[str, Any] = {}
    if not created:
        if participant_name and participant.participant_name != participant_name:
            changes["participant_name"] = participant_name
        # A peer seen once as an SFU stays one (the seed 500ed on the mismatch).
        if is_sfu and not participant.is_sfu:
            changes["is_sfu"] = True
    if changes:
        Participant.objects.filter(pk=participant.pk).update(**changes)
        for key, value in changes.items():
            setattr(participant, key, value)
    return participant


def conference_participant_link(*, conference_id: uuid.UUID, participant_id: uuid.UUID) -> None:
    """Link a participant to a conference; linking twice is a no-op."""
    ConferenceParticipant.objects.bulk_create(
        [ConferenceParticipant(conference_id=conference_id, participant_id=participant_id)],
        ignore_conflicts=True,
    )


def session_create(
    *,
    conference: Conference,
    participant: Participant,
    at: datetime,
    app_version: str | None,
    webrtc_sdk: str | None,
    metadata: dict | None,
    constraints: Any,
    devices: Any,
    platform: Any,
    geo_ip: dict,
) -> Session:
    """A new session (one page load) of ``participant`` in ``conference``,
    started at ``at`` (back-dated by the request's ``delta``). Not idempotent:
    each ``POST /sessions`` is a session."""
    return Session.objects.create(
        app_id=conference.app_id,
        conference=conference,
        participant=participant,
        app_version=app_version,
        webrtc_sdk=webrtc_sdk,
        metadata=metadata,
        constraints=constraints if constraints is not None else {},
        devices=devices if devices is not None else [],
        platform=platform if platform is not None else {},
        geo_ip=geo_ip,
        created_at=at,
    )


def session_update(*, session: Session, fields: dict[str, Any]) -> Session:
    """Replace only the fields the SDK sent (the seed wiped ``webrtc_sdk``
    on every devices update)."""
    if fields:
        Session.objects.filter(pk=session.pk).update(**fields)
        for key, value in fields.items():
            setattr(session, key, value)
    return session


def connection_add(
    *,
    session: Session,
    peer: Participant,
    connection_state: str | None,
    at: datetime,
) -> Connection:
    """A new peer connection of ``session``: the session and the conference
    are in a call from now on (``call_start``/``start_time``/``ongoing``)."""
    with transaction.atomic():
        conference = Conference.objects.select_for_update(no_key=True).get(pk=session.conference_id)
        negotiations: list[dict] = []
        info = {"detected_tcp": False, "detected_turn": False, "negotiations": negotiations}
        state = Connection.State.NEW
        if connection_state == "connected":
            state = Connection.State.CONNECTED
        else:
            negotiations.append(_negotiation_new("initial", at))
        connection = Connection.objects.create(
            app_id=session.app_id,
            session=session,
            conference_id=session.conference_id,
            participant_id=session.participant_id,
            peer=peer,
            state=state,
            connection_info=info,
            start_time=at,
        )
        Session.objects.filter(pk=session.pk, call_start__isnull=True).update(call_start=at)
        changes: dict[str, Any] = {"ongoing": True, "end_time": None}
        if conference.start_time is None:
            changes["start_time"] = at
        if conference.call_start is None:
            changes["call_start"] = at
        Conference.objects.filter(pk=conference.pk).update(**changes)
    return connection


def connection_type_set(*, connection_id: uuid.UUID, type: str) -> None:
    """Record the connection's type (the local candidate type of its
    selected pair, from its stats). Only this column: never a full-row save
    that could undo a concurrent close."""
    Connection.objects.filter(pk=connection_id).exclude(type=type).update(type=type)


def _negotiation_new(kind: str, at: datetime) -> dict:
    return {
        "type": kind,
        "status": "connecting",
        "start_time": iso(at),
        "end_time": None,
        "duration": None,
    }


def _negotiation_close(entry: dict, status: str, at: datetime) -> None:
    entry["status"] = status
    entry["end_time"] = iso(at)
    started = datetime.fromisoformat(entry["start_time"].replace("Z", "+00:00"))
    entry["duration"] = max(0.0, round((at - started).total_seconds(), 3))


def connection_event_apply(
    *, connection_id: uuid.UUID, event_name: str, data: Any, at: datetime
) -> Ended:
    """Apply a connection event to the connection's state and negotiations.

    Runs under the connection's row lock, so events of one connection that
    arrive at once (the SDK does not wait between them) never lose each
    other's update. ``closed`` ends the connection (see
    :func:`connection_end`). Returns what ended."""
    if event_name == "onconnectionstatechange" and data == "closed":
        return connection_end(connection_id=connection_id, at=at, state="closed")
    if event_name == "oniceconnectionstatechange" and data == "closed":
        # Some browsers only report ICE closure; the seed ignored it and the
        # connection stayed open until unload.
        return connection_end(connection_id=connection_id, at=at, state="closed")
    if event_name in {
        "onnegotiationneeded",
        "onsignalingstatechange",
        "onconnectionstatechange",
        "oniceconnectionstatechange",
    }:
        _connection_negotiation_apply(
            connection_id=connection_id, event_name=event_name, data=data, at=at
        )
    return Ended()


def _connection_negotiation_apply(
    *, connection_id: uuid.UUID, event_name: str, data: Any, at: datetime
) -> None:
    with transaction.atomic():
        connection = Connection.objects.select_for_update(no_key=True).get(pk=connection_id)
        info = dict(connection.connection_info or {})
        negotiations = list(info.get("negotiations") or [])
        last = negotiations[-1] if negotiations else None
        state = connection.state
        if event_name == "onnegotiationneeded":
            if not last or last.get("status") != "connecting":
                negotiations.append(_negotiation_new("renegotiation", at))
        elif event_name == "onsignalingstatechange":
            signaling = data.get("signalingState") if isinstance(data, dict) else None
            if signaling in NEGOTIATION_OPENING_STATES:
                if not last or last.get("status") != "connecting":
                    negotiations.append(
                        _negotiation_new("renegotiation" if negotiations else "initial", at)
                    )
            elif signaling == "stable":
                if not last:
                    last = _negotiation_new("initial", at)
                    negotiations.append(last)
                if last.get("end_time") is None:
                    _negotiation_close(last, "stable", at)
        elif event_name == "onconnectionstatechange":
            state = data
            if data == "connected" and last and last.get("status") in {"connecting", "stable"}:
                _negotiation_close(last, "connected", at)
            elif data == "failed" and last and last.get("status") in {"connecting", "stable"}:
                # Offer and answer done (stable) but no media path: the
                # negotiation failed all the same.
                _negotiation_close(last, "failed", at)
        elif event_name == "oniceconnectionstatechange" and data in {"connected", "completed"}:
            if state in {Connection.State.NEW, Connection.State.CONNECTING}:
                state = Connection.State.CONNECTED
            if last and last.get("status") in {"connecting", "stable"}:
                _negotiation_close(last, "connected", at)
        info["negotiations"] = negotiations
        if connection.end_time is not None:
            # Late events of an ended connection are stored, but never
            # reopen it or rewrite how it ended.
            return
        connection.connection_info = info
        connection.state = state
        connection.save(update_fields=["connection_info", "state"])


def connection_end(*, connection_id: uuid.UUID, at: datetime, state: str | None = None) -> Ended:
    """End one connection at ``at`` (idempotent: an ended connection keeps
    its first end), close its open negotiations as failed, then stop the
    session's and the conference's call if nothing else is open. One
    transaction; returns what ended (nothing for an unknown or ended
    connection)."""
    ended = Ended()
    with transaction.atomic():
        ids = (
            Connection.objects.filter(pk=connection_id)
            .values_list("conference_id", "session_id")
            .first()
        )
        if ids is None:
            return ended
        conference = Conference.objects.select_for_update(no_key=True).get(pk=ids[0])
        Session.objects.select_for_update(no_key=True).filter(pk=ids[1]).values_list("pk").first()
        connection = Connection.objects.select_for_update(no_key=True).get(pk=connection_id)
        if connection.end_time is None:
            _connection_close(connection, at=at, state=state, ended=ended)
            _session_call_check(session_id=connection.session_id, at=at)
            _conference_call_check(conference=conference, at=at, ended=ended)
    return ended


def connections_of_peer_end(*, session: Session, peer_id: uuid.UUID, at: datetime) -> Ended:
    """``removePeer``: end every open connection of ``session`` to
    ``peer_id``, each as :func:`connection_end` does (one transaction each)."""
    ended = Ended()
    for connection_id in Connection.objects.filter(
        session_id=session.pk, peer_id=peer_id, end_time__isnull=True
    ).values_list("pk", flat=True):
        one = connection_end(connection_id=connection_id, at=at)
        ended.connection_ids += one.connection_ids
        ended.conference = one.conference or ended.conference
    return ended


def _connection_close(
    connection: Connection, *, at: datetime, state: str | None, ended: Ended
) -> None:
    at = max(at, connection.start_time)
    info = dict(connection.connection_info or {})
    negotiations = [dict(n) for n in info.get("negotiations") or []]
    for entry in negotiations:
        if entry.get("end_time") is None:
            _negotiation_close(entry, "failed", at)
    info["negotiations"] = negotiations
    connection.connection_info = info
    connection.end_time = at
    connection.duration = _seconds(connection.start_time, at)
    fields = ["connection_info", "end_time", "duration"]
    if state:
        connection.state = state
        fields.append("state")
    connection.save(update_fields=fields)
    ended.connection_ids.append(connection.pk)


def _session_call_check(*, session_id: uuid.UUID, at: datetime) -> None:
    """If the session has no open connection left, the time since its
    ``call_start`` is billed to the app's usage and the call period closes."""
    session = Session.objects.select_for_update(no_key=True).get(pk=session_id)
    if session.call_start is None:
        return
    still_open, last_end = _connections_state(Connection.objects.filter(session_id=session_id))
    if still_open:
        return
    usage_add(app_id=session.app_id, start=session.call_start, end=max(at, last_end or at))
    Session.objects.filter(pk=session_id).update(call_start=None)


def _connections_state(connections) -> tuple[bool, datetime | None]:
    """Whether any of ``connections`` is open, and when the last one ended.

    A call ends at its last connection's end, not at the time of the request
    that ended the last one: a retried ``endCall`` is back-dated by its
    ``delta`` to before the close of a connection that ended meanwhile."""
    state = connections.aggregate(
        open=Count("pk", filter=Q(end_time__isnull=True)), last_end=Max("end_time")
    )
    return bool(state["open"]), state["last_end"]


def _conference_call_check(*, conference: Conference, at: datetime, ended: Ended) -> None:
    """Caller holds the conference lock. Ends the conference's active period
    when its last open connection has ended."""
    if not conference.ongoing:
        return
    still_open, last_end = _connections_state(
        Connection.objects.filter(conference_id=conference.pk)
    )
    if still_open:
        return
    at = max(at, last_end or at, conference.call_start or at)
    conference.duration += _seconds(conference.call_start, at)
    conference.call_start = None
    conference.end_time = at
    conference.ongoing = False
    conference.save(update_fields=["duration", "call_start", "end_time", "ongoing"])
    ended.conference = (conference, at)


def usage_add(*, app_id: uuid.UUID, start: datetime, end: datetime) -> None:
    """Add connected seconds to the app's per-day usage, split at UTC
    midnight so a call over midnight counts on both days."""
    cursor = start
    while cursor < end:
        next_midnight = datetime.combine(
            cursor.date() + timedelta(days=1), datetime.min.time(), tzinfo=cursor.tzinfo
        )
        chunk_end = min(end, next_midnight)
        seconds = int((chunk_end - cursor).total_seconds())
        if seconds > 0:
            _usage_increment(app_id=app_id, day=cursor.date(), seconds=seconds)
        cursor = chunk_end


def _usage_increment(*, app_id: uuid.UUID, day, seconds: int) -> None:
    updated = AppUsageDay.objects.filter(app_id=app_id, day=day).update(
        seconds=F("seconds") + seconds
    )
    if updated:
        return
    try:
        with transaction.atomic():
            AppUsageDay.objects.create(app_id=app_id, day=day, seconds=seconds)
    except IntegrityError:
        AppUsageDay.objects.filter(app_id=app_id, day=day).update(seconds=F("seconds") + seconds)


def session_end(*, session_id: uuid.UUID, at: datetime, end_connections: bool) -> Ended:
    """End a session (``beforeunload``: only the session; ``unload`` and
    ``endCall``: its open connections too). Idempotent; one transaction;
    returns what ended."""
    ended = Ended()
    with transaction.atomic():
        conference_id = (
            Session.objects.filter(pk=session_id).values_list("conference_id", flat=True).first()
        )
        if conference_id is None:
            return ended
        conference = Conference.objects.select_for_update(no_key=True).get(pk=conference_id)
        session = Session.objects.select_for_update(no_key=True).get(pk=session_id)
        if end_connections:
            for connection in Connection.objects.select_for_update(no_key=True).filter(
                session_id=session_id, end_time__isnull=True
            ):
                _connection_close(connection, at=at, state=None, ended=ended)
        newly_ended = session.end_time is None
        if newly_ended:
            end = max(at, session.created_at)
            Session.objects.filter(pk=session_id).update(
                end_time=end, duration=_seconds(session.created_at, end)
            )
            session.end_time = end
        _session_call_check(session_id=session_id, at=at)
        _conference_call_check(conference=conference, at=at, ended=ended)
        if newly_ended:
            ended.sessions.append((session, at))
    return ended


def event_lifecycle_apply(
    *,
    session: Session,
    event_name: str,
    data: Any,
    connection_id: uuid.UUID | None,
    peer_id: uuid.UUID | None,
    at: datetime,
) -> Ended:
    """What an SDK event does to the call (reference §4.2, with its bugs
    fixed): ``getUserMedia`` records the local tracks, ``beforeunload``
    ends the session, ``unload``/``endCall`` the session and its
    connections, ``removeConnection`` the connection, ``removePeer`` every
    connection to that peer; any other event of a connection updates its
    state and negotiations. Call it once per stored event (not for a retry).
    Returns what ended."""
    if event_name == "getUserMedia" and isinstance(data, dict):
        tracks_from_get_user_media(session=session, data=data)
    elif event_name == "beforeunload":
        return session_end(session_id=session.pk, at=at, end_connections=False)
    elif event_name in {"unload", "endCall"}:
        return session_end(session_id=session.pk, at=at, end_connections=True)
    elif event_name == "removeConnection" and connection_id is not None:
        return connection_end(connection_id=connection_id, at=at)
    elif event_name == "removePeer" and peer_id is not None:
        return connections_of_peer_end(session=session, peer_id=peer_id, at=at)
    elif connection_id is not None:
        return connection_event_apply(
            connection_id=connection_id, event_name=event_name, data=data, at=at
        )
    return Ended()


def conference_stop(*, conference: Conference, at: datetime) -> Ended:
    """End every open connection and session of a conference at ``at``
    (``stop-conference``, idle cleanup). Idempotent; one transaction;
    returns what ended."""
    ended = Ended()
    with transaction.atomic():
        conference = Conference.objects.select_for_update(no_key=True).get(pk=conference.pk)
        # In call order, so the usage rows of a call over midnight are locked
        # day after day, as every other transaction locks them.
        sessions = list(
            Session.objects.select_for_update(no_key=True)
            .filter(conference_id=conference.pk)
            .order_by("call_start", "created_at")
        )
        for connection in Connection.objects.select_for_update(no_key=True).filter(
            conference_id=conference.pk, end_time__isnull=True
        ):
            _connection_close(connection, at=at, state=None, ended=ended)
        ended_sessions = []
        for session in sessions:
            _session_call_check(session_id=session.pk, at=at)
            if session.end_time is None:
                end = max(at, session.created_at)
                Session.objects.filter(pk=session.pk).update(
                    end_time=end, duration=_seconds(session.created_at, end)
                )
                session.end_time = end
                ended_sessions.append(session)
        _conference_call_check(conference=conference, at=at, ended=ended)
    ended.sessions += [(session, at) for session in ended_sessions]
    return ended


def track_get_or_create(
    *,
    session_id: uuid.UUID,
    connection_id: uuid.UUID | None,
    direction: str,
    track_id: str,
    kind: str | None = None,
) -> Track:
    """The track of its natural key, created on first sight: (connection,
    direction, track id) for a track sent or received on a connection;
    (session, track id) for a local track (``connection_id`` None). The one
    way tracks are made (``ontrack``, ``PUT /tracks``, the stats path;
    getUserMedia's batch honours the same key).

    Concurrent calls converge on one row: the key is a unique constraint,
    and the loser of the insert race reads the winner's row. A ``kind``
    given fills in a row that has none (a state event made it bare)."""
    if connection_id is None:
        key: dict[str, Any] = {"session_id": session_id, "connection": None, "track_id": track_id}
    else:
        key = {"connection_id": connection_id, "direction": direction, "track_id": track_id}
    track, created = Track.objects.get_or_create(
        **key,
        defaults={"session_id": session_id, "direction": direction, "kind": kind, "track_info": {}},
    )
    if not created and kind and track.kind is None:
        Track.objects.filter(pk=track.pk, kind__isnull=True).update(kind=kind)
        track.kind = kind
    return track


def connection_tracks_get_or_create(
    wanted: list[tuple[uuid.UUID, uuid.UUID, str, str, str]],
) -> dict[tuple[uuid.UUID, str, str], uuid.UUID]:
    """Many tracks of connections at once, as :func:`track_get_or_create`
    makes one: ``wanted`` is (session id, connection id, direction, track
    id, kind); the answer maps (connection id, direction, track id) to the
    row's id. One INSERT that skips rows that exist and one SELECT, however
    many tracks: a batch of samples of new connections would otherwise
    make its tracks one round trip (and savepoint) at a time. Rows are
    inserted in key order, so two processes creating overlapping sets wait
    for each other instead of deadlocking; a bare row (no kind) gets the
    kind wanted."""
    if not wanted:
        return {}
    kinds = {(c, d, t): (s, k) for s, c, d, t, k in wanted}
    Track.objects.bulk_create(
        [
            Track(
                session_id=session_id,
                connection_id=key[0],
                direction=key[1],
                track_id=key[2],
                kind=kind,
                track_info={},
            )
            for key, (session_id, kind) in sorted(kinds.items(), key=lambda item: str(item[0]))
        ],
        ignore_conflicts=True,
    )
    found: dict[tuple[uuid.UUID, str, str], uuid.UUID] = {}
    rows = Track.objects.filter(connection_id__in={key[0] for key in kinds}).values_list(
        "pk", "connection_id", "direction", "track_id", "kind"
    )
    for pk, connection_id, direction, track_id, kind in rows:
        key = (connection_id, direction, track_id)
        if key in kinds:
            found[key] = pk
            if kind is None:  # rare: a state event made it bare
                Track.objects.filter(pk=pk, kind__isnull=True).update(kind=kinds[key][1])
    return found


def track_from_ontrack(
    *, session: Session, connection: Connection, track_id: str, data: dict
) -> Track:
    """The remote track an ``ontrack`` describes (see
    :func:`track_get_or_create`). A state event that overtook it may have
    made a bare row already; this fills in what it lacked, under the
    track's row lock (a concurrent ``mute`` is not lost). Raises
    ``invalid_parameters`` for a kind other than audio or video."""
    kind = data.get("kind")
    if kind not in Track.Kind.values:
        raise ApiError("invalid_parameters", "'data.kind' must be 'audio' or 'video'.")
    label = data.get("label")
    label = label[:128] if isinstance(label, str) else None
    described = {
        "muted": data.get("muted"),
        "enabled": data.get("enabled"),
        "capabilities": data.get("capabilities"),
        "constraints": data.get("constraints"),
        "settings": data.get("settings"),
        "ended": False,
        "readyState": data.get("readyState"),
        "contentHint": data.get("contentHint"),
    }
    direction = data.get("direction")
    if direction not in Track.Direction.values:
        direction = Track.Direction.INBOUND
    with transaction.atomic():
        found = track_get_or_create(
            session_id=session.pk,
            connection_id=connection.pk,
            direction=direction,
            track_id=track_id,
            kind=kind,
        )
        track = Track.objects.select_for_update(no_key=True).get(pk=found.pk)
        info = dict(track.track_info or {})
        for key, value in described.items():
            # State already set by an earlier mute/unmute/ended wins.
            info.setdefault(key, value)
        track.kind = kind
        track.label = label
        track.track_info = info
        track.save(update_fields=["kind", "label", "track_info"])
        return track


TRACK_STATE_CHANGES: dict[str, dict[str, Any]] = {
    "mute": {"muted": True},
    "unmute": {"muted": False},
    "ended": {"ended": True, "readyState": "ended"},
}


def track_state_change(
    *,
    session: Session,
    connection: Connection | None,
    track_id: str,
    event: str,
) -> Track:
    """Apply ``mute``/``unmute``/``ended`` (other events change nothing) to
    the session's track of that id (the connection's, if it has one). A
    remote track whose ``ontrack`` has not arrived yet gets a bare row (see
    :func:`track_get_or_create`), so the event is not refused and retried.
    Raises ``track_not_found`` for an unknown local track."""
    with transaction.atomic():
        tracks = Track.objects.select_for_update(no_key=True).filter(
            session=session, track_id=track_id
        )
        if connection is not None:
            track = tracks.filter(connection=connection).first() or tracks.first()
        else:
            track = tracks.filter(connection__isnull=True).first() or tracks.first()
        if track is None:
            if connection is None:
                raise ApiError("track_not_found")
            bare = track_get_or_create(
                session_id=session.pk,
                connection_id=connection.pk,
                direction=Track.Direction.INBOUND,
                track_id=track_id,
            )
            track = tracks.get(pk=bare.pk)
        change = TRACK_STATE_CHANGES.get(event)
        if change:
            info = dict(track.track_info or {})
            info.update(change)
            track.track_info = info
            track.save(update_fields=["track_info"])
    return track


def tracks_from_get_user_media(*, session: Session, data: dict) -> list[Track]:
    """Local (outbound, connection-less) tracks of a successful getUserMedia."""
    created = []
    for kind in ("audio", "video"):
        entries = data.get(kind)
        if not isinstance(entries, list):
            continue
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                continue
            label = entry.get("label")
            created.append(
                Track(
                    session=session,
                    kind=kind,
                    direction=Track.Direction.OUTBOUND,
                    track_id=entry["id"][:64],
                    label=label[:128] if isinstance(label, str) else None,
                    track_info={
                        "muted": entry.get("muted"),
                        "enabled": entry.get("enabled"),
                        "capabilities": entry.get("capabilities"),
                        "constraints": entry.get("constraints"),
                        "settings": entry.get("settings"),
                        "ended": False,
                        "readyState": entry.get("readyState"),
                    },
                )
            )
    existing = set(
        Track.objects.filter(
            session=session,
            connection__isnull=True,
            track_id__in=[t.track_id for t in created],
        ).values_list("track_id", flat=True)
    )
    fresh = [t for t in created if t.track_id not in existing]
    # The natural key of a local track is unique: a concurrent retry of the
    # same getUserMedia inserts nothing twice.
    Track.objects.bulk_create(fresh, ignore_conflicts=True)
    return fresh
