"""The SDK's writes, one service per request kind: each authorises the
request's session (or app), calls the services of the layers below in
order, and tells the layers above the lifecycle what happened.

This is where the layers meet: ``calls`` records the lifecycle and returns
what ended; ``events`` stores the event; then this module tells the stats
sink (stop accepting samples of ended connections) and ``quality`` (an
event was stored, a session or a conference ended). No lower app knows the
sink or the detectors exist.

Every service here is called outside a transaction (the SDK routes are not
atomic): each service below commits its own, so a request that fails half
way has stored what it answered for, and its retry is recognised.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction

from api.calls import selectors as calls_read
from api.calls import services as calls
from api.calls.models import Connection, Session, Track
from api.common.errors import ApiError
from api.common.logs import app_identified
from api.events import privacy
from api.events.models import GenericEvent
from api.events.services import event_store, fingerprint
from api.ingest import budget, sinks, tokens
from api.quality import services as quality
from api.rollups.services import conference_summarize
from api.tenancy.app_state import app_state, app_state_require
from api.tenancy.models import App
from api.tenancy.selectors import app_for_recording, app_of_api_key


def ended_announce(ended: calls.Ended) -> None:
    """Tell the layers above what a lifecycle write ended, once its
    transaction committed: the sinks stop accepting the connections' stats
    (in every process), quality closes what ended with them. In the order
    things ended: connections, the conference's call, sessions."""
    if ended:
        transaction.on_commit(functools.partial(_announce, ended))


def _announce(ended: calls.Ended) -> None:
    sinks.connections_ended(ended.connection_ids)
    if ended.conference is not None:
        conference, at = ended.conference
        quality.conference_ended(conference=conference, at=at)
    for session, at in ended.sessions:
        quality.session_ended(session=session, at=at)
    if ended.conference is not None:
        # Last: the sessions' end-of-session issues belong to the summary.
        conference_summarize(conference_id=ended.conference[0].pk)


def _private(app_id: uuid.UUID, data: Any) -> Any:
    """An event's data as the app's privacy switches keep it: addresses
    truncated or hashed, ICE credentials and fingerprints removed
    (api.events.privacy)."""
    if data is None or isinstance(data, bool | int | float):
        return data
    mode = app_state(app_id).address_privacy
    return privacy.data_scrub(data, mode=mode, secret=settings.SECRET_KEY)


def _session(session_id: uuid.UUID) -> Session:
    """The token's session (``invalid_token`` when gone, or when its app
    or organization was deleted; ``app_not_recording`` when the app's
    recording was switched off); the request's log lines name its app from
    here on."""
    session = calls_read.session_get(session_id=session_id)
    app_identified(session.app_id)
    app_state_require(session.app_id)
    return session


# ---------------------------------------------------------------- sessions


def recording_start(
    *,
    api_key: Any,
    origin: str | None,
    conference_id: str,
    conference_name: str | None,
    participant_id: str,
    participant_name: str | None,
) -> tuple[App, str]:
    """``/initialize``: the app and the init token of a participant joining
    a conference (both created on first sight). Raises ``invalid_api_key``,
    ``app_not_recording``, ``domain_not_allowed``. Idempotent but for the
    token's issue time."""
    app = app_for_recording(api_key=api_key, origin=origin)
    budget.session_quota_use(app_id=app.pk)
    conference, participant = calls.conference_join(
        app=app,
        conference_id=conference_id,
        conference_name=conference_name,
        participant_id=participant_id,
        # A person's name is kept only where the app says so.
        participant_name=participant_name if app.keep_user_names else None,
    )
    token = tokens.init_token_issue(participant_id=participant.pk, conference_id=conference.pk)
    return app, token


def session_start(*, claims: tokens.InitClaims, at: datetime, **fields: Any) -> str:
    """``POST /sessions``: a new session of the participant and conference
    a verified init token names, started at ``at``; returns its session
    token. Raises ``invalid_token`` when what it names is gone (its app
    or organization too), ``app_not_recording``. Not
    idempotent (each call is a page load). ``fields``: see
    :func:`api.calls.services.session_create`."""
    participant, conference = calls_read.session_start_get(
        participant_id=claims.participant_id, conference_id=claims.conference_id
    )
    app_state_require(conference.app_id)
    session = calls.session_create(conference=conference, participant=participant, at=at, **fields)
    quality.session_started(session=session)
    return tokens.session_token_issue(session_id=session.pk)


def session_update(*, session_id: uuid.UUID, fields: dict[str, Any]) -> Session:
    """``PUT /sessions``: only the fields sent change. Raises ``invalid_token``."""
    session = _session(session_id)
    return calls.session_update(session=session, fields=fields)


# ------------------------------------------------------------------ events


@dataclass(frozen=True)
class EventIn:
    """One SDK event as its request gave it, checked."""

    category: str
    name: str
    data: Any
    at: datetime
    is_retry: bool
    # What the SDK sent, and the route it came by: a retry of the same
    # request is recognised by their fingerprint.
    route: str
    body: dict[str, Any]
    connection_id: uuid.UUID | None = None
    peer_ref: str | None = None


def event_record(*, session_id: uuid.UUID, event: EventIn) -> None:
    """Store one event of the session, then (once: a retry is recognised
    and does nothing) apply it to the call's lifecycle and to quality.

    The peer is resolved from ``peer_ref`` (a server or application id):
    ``participant_not_found`` for an unknown one (removeConnection and
    removePeer store it as none: the SDK ignores their answer),
    ``participant_equal_peer`` for the session's own participant. Also
    raises ``invalid_token`` and ``connection_not_found``."""
    session = _session(session_id)
    connection = calls_read.connection_of_session(
        session=session, connection_id=event.connection_id
    )
    peer_id = connection.peer_id if connection else None
    if event.peer_ref and peer_id is None:
        peer = calls_read.peer_of_app(session=session, peer_ref=event.peer_ref)
        if event.name in {"removeConnection", "removePeer"}:
            peer_id = peer.pk if peer else None
        elif peer is None:
            raise ApiError("participant_not_found")
        elif peer.pk == session.participant_id:
            raise ApiError("participant_equal_peer")
        else:
            peer_id = peer.pk
    _event_apply(
        session=session,
        event=event,
        connection_id=connection.pk if connection else None,
        peer_id=peer_id,
    )


def events_record(*, session_id: uuid.UUID, events: list[EventIn]) -> None:
    """``/connection/batch``: each event as :func:`event_record` would, its
    peer the one of its connection; every connection is checked before any
    event is stored."""
    session = _session(session_id)
    checked = [
        (
            event,
            calls_read.connection_of_session(session=session, connection_id=event.connection_id),
        )
        for event in events
    ]
    for event, connection in checked:
        _event_apply(
            session=session,
            event=event,
            connection_id=connection.pk if connection else None,
            peer_id=connection.peer_id if connection else None,
        )


def _event_apply(
    *,
    session: Session,
    event: EventIn,
    connection_id: uuid.UUID | None,
    peer_id: uuid.UUID | None,
    track_id: uuid.UUID | None = None,
) -> None:
    """Store the event; if it is new, apply it to the lifecycle (a track
    event was applied by its route already), announce what ended, and tell
    quality."""
    stored, created = event_store(
        session=session,
        category=event.category,
        type=event.name,
        data=_private(session.app_id, event.data),
        at=event.at,
        fingerprint=fingerprint(route=event.route, body=event.body),
        is_retry=event.is_retry,
        connection_id=connection_id,
        peer_id=peer_id,
        track_id=track_id,
    )
    if not created:
        return
    if event.category != GenericEvent.Category.TRACK:
        ended = calls.event_lifecycle_apply(
            session=session,
            event_name=event.name,
            data=event.data,
            connection_id=connection_id,
            peer_id=peer_id,
            at=event.at,
        )
        ended_announce(ended)
    quality.event_received(event=stored)


def connection_add(
    *,
    session_id: uuid.UUID,
    event: EventIn,
    peer_name: str | None,
    is_sfu: bool,
    connection_state: str | None,
) -> Connection:
    """``addConnection``: a new connection of the session to the peer named
    by its application id (created on first sight, linked to the
    conference); the session and conference are in a call from now on.
    Raises ``invalid_token``, ``connection_not_found`` (a connectionId that
    is not the session's), ``participant_equal_peer``. Not idempotent:
    each call is a connection."""
    assert event.peer_ref is not None
    session = _session(session_id)
    calls_read.connection_of_session(session=session, connection_id=event.connection_id)
    own_id = calls_read.participant_external_id(participant_id=session.participant_id)
    if own_id is not None and own_id == event.peer_ref:
        raise ApiError("participant_equal_peer")
    if not app_state(session.app_id).keep_user_names:
        peer_name = None
    peer = calls.participant_get_or_create(
        app=session.app_id, participant_id=event.peer_ref, participant_name=peer_name, is_sfu=is_sfu
    )
    calls.conference_participant_link(conference_id=session.conference_id, participant_id=peer.pk)
    connection = calls.connection_add(
        session=session, peer=peer, connection_state=connection_state, at=event.at
    )
    stored, _ = event_store(
        session=session,
        category=GenericEvent.Category.CONNECTION,
        type="addConnection",
        data={"peerName": peer_name, "isSfu": is_sfu, "connectionState": connection_state},
        at=event.at,
        fingerprint=fingerprint(
            route=event.route, body={**event.body, "connection": str(connection.pk)}
        ),
        is_retry=False,
        connection_id=connection.pk,
        peer_id=peer.pk,
    )
    quality.event_received(event=stored)
    return connection


# ------------------------------------------------------------------ tracks


def track_record(*, session_id: uuid.UUID, event: EventIn, track_ref: str, ontrack: bool) -> Track:
    """``POST /tracks`` (``ontrack``: the remote track it describes,
    created once) or ``PUT /tracks`` (a state event: mute, unmute,
    ended), then the track event stored and told to quality (once). Raises
    ``invalid_token``, ``connection_not_found``, ``invalid_parameters`` (a
    bad kind), ``track_not_found`` (an unknown local track)."""
    session = _session(session_id)
    connection = calls_read.connection_of_session(
        session=session, connection_id=event.connection_id
    )
    if ontrack:
        assert connection is not None
        track = calls.track_from_ontrack(
            session=session, connection=connection, track_id=track_ref, data=event.data
        )
    else:
        track = calls.track_state_change(
            session=session, connection=connection, track_id=track_ref, event=event.name
        )
    _event_apply(
        session=session,
        event=event,
        connection_id=track.connection_id,
        peer_id=connection.peer_id if connection else None,
        track_id=track.pk,
    )
    return track


# -------------------------------------------------------- server to server


def conference_url_path(
    *, api_key: Any, conference_id: str | None, participant_id: str | None
) -> str:
    """``/services/get-url``: the dashboard path of the app's conference
    (or, without one, of its participant). Raises ``invalid_api_key``,
    ``conference_not_found``, ``participant_not_found``,
    ``missing_parameters``."""
    app = app_of_api_key(api_key=api_key)
    if conference_id:
        conference = calls_read.conference_of_app(app_id=app.pk, conference_id=conference_id)
        return f"/conference/{conference.pk}"
    if participant_id:
        participant = calls_read.participant_of_app(app_id=app.pk, participant_id=participant_id)
        return f"/participant/{participant.pk}"
    raise ApiError("missing_parameters", "'conferenceId' or 'userId' is required.")


def conference_stop(*, api_key: Any, conference_id: str, at: datetime) -> None:
    """``/services/stop-conference``: end the app's conference now (its
    later stats get ``connection_ended``). Raises ``invalid_api_key``,
    ``conference_not_found``. Idempotent."""
    app = app_of_api_key(api_key=api_key)
    conference = calls_read.conference_of_app(app_id=app.pk, conference_id=conference_id)
    ended_announce(calls.conference_stop(conference=conference, at=at))
