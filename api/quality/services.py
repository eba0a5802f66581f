"""The writes of issues, and what quality does when the ingest path tells
it that an event was stored or a session or a conference ended.

The hooks run after the data they analyse was stored (the stats samples
have their own pipeline, :mod:`api.quality.analysis`). They never raise for
malformed data (a bad report must not fail the SDK's request and make it
retry); database errors do propagate. Issues are written only when one is
raised, resolved, escalated or its peak grows markedly.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.db.models import F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Greatest

from api.calls.models import Connection, Session, Track
from api.common.metrics import ISSUES_RAISED, labelled
from api.common.time import iso
from api.events.models import GenericEvent, StatsSample
from api.quality import signals  # what quality tells the layers above (webhooks listen)
from api.quality import state as live
from api.quality.catalogue import CATALOGUE
from api.quality.detectors import connectivity
from api.quality.detectors.engine import ESCALATE, PEAK, RAISE, RESOLVE, Transition
from api.quality.diagnosis import SYMPTOM_CODES, IssueChange, conference_diagnose
from api.quality.models import Issue, TrackMetric
from api.quality.state import ConnectionState

logger = logging.getLogger("api.quality")


@dataclass(frozen=True)
class IssueScope:
    """The objects an issue is attached to."""

    app_id: Any
    conference_id: Any
    session_id: Any = None
    participant_id: Any = None
    connection_id: Any = None


# ------------------------------------------------------------------- issues


def issue_open(
    *,
    scope: IssueScope,
    code: str,
    subject: str,
    at: datetime,
    severity: str | None = None,
    peak: float | None = None,
    evidence: dict | None = None,
    track_id: Any = None,
    resolved_at: datetime | None = None,
) -> None:
    """Raise an issue (``resolved_at`` given: record a closed interval).

    Idempotent: while an issue of ``code`` on ``subject`` is open, raising
    it again stores nothing (the partial unique constraint turns the INSERT
    into a no-op, in the same statement, also across processes)."""
    labelled(ISSUES_RAISED, code).inc()
    Issue.objects.bulk_create(
        [
            Issue(
                app_id=scope.app_id,
                conference_id=scope.conference_id,
                session_id=scope.session_id,
                participant_id=scope.participant_id,
                connection_id=scope.connection_id,
                track_id=track_id,
                code=code,
                type=severity or CATALOGUE[code].type,
                subject=subject,
                data=evidence,
                peak_value=peak,
                created_at=at,
                resolved_at=resolved_at,
            )
        ],
        ignore_conflicts=True,
    )
    signals.issue_changed.send(
        Issue, action="raised", scope=scope, code=code, subject=subject, at=at
    )


def _open_issues(code: str, subject: str):
    return Issue.objects.filter(code=code, subject=subject, resolved_at__isnull=True)


def _resolved_at(at: datetime) -> Greatest:
    # Never before the issue started (its start may come from another process).
    return Greatest(F("created_at"), Value(at))


def issue_resolve(
    *,
    code: str,
    subject: str,
    at: datetime,
    peak: float | None = None,
    evidence: dict | None = None,
) -> int:
    """Close the open issue of ``code`` on ``subject`` at ``at``. Returns the
    number closed (0 or 1)."""
    changes: dict[str, Any] = {"resolved_at": _resolved_at(at)}
    if peak is not None:
        changes["peak_value"] = peak
    if evidence is not None:
        changes["data"] = evidence
    return _open_issues(code, subject).update(**changes)


_ACTIONS = {RAISE: "raised", RESOLVE: "resolved", ESCALATE: "escalated", PEAK: "peak"}


def transitions_apply(
    *, transitions: list[Transition], scope: IssueScope, now: datetime | None = None
) -> list[IssueChange]:
    """Write detector transitions, in order; when one concerns a symptom of
    a cause (loss, concealment, low MOS, dry tracks), diagnose the
    conference again (:mod:`api.quality.diagnosis`). Returns every change
    written, as plain values (the caller may pass them on: webhooks).
    ``now``: when the evidence was taken (the sample's time)."""
    changes: list[IssueChange] = []
    diagnose = False
    for t in transitions:
        if t.action == RAISE:
            issue_open(
                scope=scope,
                code=t.code,
                subject=t.subject,
                at=t.at,
                severity=t.severity,
                peak=t.peak,
                evidence=t.evidence,
                track_id=t.track_id,
                resolved_at=t.resolved_at,
            )
        elif t.action == RESOLVE:
            if issue_resolve(
                code=t.code, subject=t.subject, at=t.at, peak=t.peak, evidence=t.evidence
            ):
                signals.issue_changed.send(
                    Issue, action="resolved", scope=scope, code=t.code, subject=t.subject, at=t.at
                )
        elif t.action == ESCALATE:
            _open_issues(t.code, t.subject).update(type=t.severity, peak_value=t.peak)
        elif t.action == PEAK:
            _open_issues(t.code, t.subject).update(peak_value=t.peak)
        changes.append(
            IssueChange(
                _ACTIONS[t.action],
                t.code,
                t.subject,
                t.at,
                scope.conference_id,
                t.severity,
                data=t.evidence,
            )
        )
        # A symptom's peak too: the cause's evidence quotes it.
        diagnose = diagnose or t.code in SYMPTOM_CODES
    if diagnose and scope.conference_id is not None:
        at = now or max(t.at for t in transitions)
        pending = getattr(_batch, "pending", None)
        if pending is None:
            changes += _diagnose(app_id=scope.app_id, conference_id=scope.conference_id, at=at)
        else:
            earlier = pending.get(scope.conference_id)
            pending[scope.conference_id] = (
                scope.app_id,
                at if earlier is None else max(at, earlier[1]),
            )
    return changes


# The conferences a batch of samples (the ingest worker's) asks to diagnose
# again, while :func:`diagnoses_once` holds: conference id → (app id, the
# latest evidence's time).
_batch = threading.local()


@contextmanager
def diagnoses_once() -> Iterator[None]:
    """Within the block, diagnose each conference once, when the block ends
    without an exception (inside the caller's transaction), at the latest
    time it was asked for, instead of after every symptom transition. Loss
    that sets in on a participant raises several symptoms on each of its
    connections within a second; diagnosed after each, the ingest worker
    spent seconds of its time on the conferences concerned while its
    backlog aged (docs/benchmarks.md). The changes are told to the
    listeners of :data:`api.quality.signals.issue_changed` as ever, not
    returned to :func:`transitions_apply`'s caller."""
    if getattr(_batch, "pending", None) is not None:  # nested: the outer one diagnoses
        yield
        return
    pending: dict[Any, tuple[Any, datetime]] = {}
    _batch.pending = pending
    try:
        yield
        while pending:
            conference_id, (app_id, at) = pending.popitem()
            _diagnose(app_id=app_id, conference_id=conference_id, at=at)
    finally:
        _batch.pending = None


def _diagnose(*, app_id: Any, conference_id: Any, at: datetime) -> list[IssueChange]:
    """Diagnose the conference again; a diagnosis raised or ended is told
    like any issue (a withdrawn one as resolved)."""
    changes = conference_diagnose(conference_id=conference_id, at=at)
    scope = IssueScope(app_id=app_id, conference_id=conference_id)
    for change in changes:
        if change.action in {"raised", "resolved", "withdrawn"}:
            signals.issue_changed.send(
                Issue,
                action="raised" if change.action == "raised" else "resolved",
                scope=scope,
                code=change.code,
                subject=change.subject,
                at=change.at,
            )
    return changes


def _issues_close_ended_connections(*, session_id: Any) -> list[Any]:
    """Close the open issues of the session's ended connections (their
    subject ended) at each connection's end. Returns those connection ids."""
    ended = list(
        Connection.objects.filter(session_id=session_id, end_time__isnull=False).values_list(
            "pk", flat=True
        )
    )
    if ended:
        end_time = Connection.objects.filter(pk=OuterRef("connection_id")).values("end_time")[:1]
        Issue.objects.filter(
            session_id=session_id, connection_id__in=ended, resolved_at__isnull=True
        ).update(resolved_at=Greatest(F("created_at"), Subquery(end_time)))
    return ended


# ------------------------------------------------------------------- events


def _event_scope(event: GenericEvent, *, with_connection: bool = True) -> IssueScope:
    return IssueScope(
        app_id=event.app_id,
        conference_id=event.conference_id,
        session_id=event.session_id,
        participant_id=event.participant_id,
        connection_id=event.connection_id if with_connection else None,
    )


def event_received(*, event: GenericEvent) -> None:
    """A browser/getUserMedia/connection/track event was stored (once: SDK
    retries are recognised before). Updates live state and raises or
    resolves the issues the event decides."""
    try:
        _event_analyse(event)
    except DatabaseError:
        raise
    except Exception:
        logger.exception("quality analysis failed for event %s", event.pk)


_STATE_EVENTS = {"oniceconnectionstatechange", "onconnectionstatechange"}


def _event_analyse(event: GenericEvent) -> None:
    category, name, data = event.category, event.type, event.data
    if category == GenericEvent.Category.GET_USER_MEDIA:
        _get_user_media(event)
    elif category == GenericEvent.Category.TRACK:
        _track_event(event)
    elif category == GenericEvent.Category.BROWSER:
        if (
            name == "custom"
            and isinstance(data, dict)
            and data.get("eventName")
            in {
                "mute",
                "unmute",
            }
        ):
            marks = live.STATE.marks_load(event.conference_id, event.participant_id)
            marks.muted = data["eventName"] == "mute"
            if not marks.muted:
                marks.lift("muted", event.created_at)
            live.STATE.marks_save(event.conference_id, event.participant_id, marks)
    elif category == GenericEvent.Category.CONNECTION:
        if name in {"removeConnection", "removePeer"} or (
            name in _STATE_EVENTS and data == "closed"
        ):
            for connection_id in _issues_close_ended_connections(session_id=event.session_id):
                live.STATE.connection_drop(connection_id)
            # Their symptoms ended with them: so may their causes.
            if event.conference_id is not None:
                _diagnose(
                    app_id=event.app_id, conference_id=event.conference_id, at=event.created_at
                )
        elif event.connection_id is not None:
            _connection_event(event)


def _connection_event(event: GenericEvent) -> None:
    name, data, at = event.type, event.data, event.created_at
    scope = _event_scope(event)
    with live.STATE.locked(event.connection_id):
        state = live.STATE.connection_load(event.connection_id)
        transitions: list[Transition] = []
        if name == "addConnection":
            if isinstance(data, dict) and data.get("connectionState") == "connected":
                state.connected = state.setup_checked = True
            elif state.setup_started is None:
                state.setup_started = at
        elif name in _STATE_EVENTS and isinstance(data, str):
            transitions = connectivity.state_event(state, name=name, value=data, at=at)
            if state.connected and not state.setup_checked:
                transitions += _setup_check(state, connection_id=event.connection_id, at=at)
        elif name == "onicecandidateerror":
            _candidate_error(event, state)
        else:
            transitions = connectivity.grace_check(state, now=at)
        live.STATE.connection_save(state, stats=False)
        transitions_apply(transitions=transitions, scope=scope)


def _setup_check(state: ConnectionState, *, connection_id: Any, at: datetime) -> list[Transition]:
    """At the first connect: how long the first negotiation took (the
    lifecycle closed it just before this hook ran)."""
    state.setup_checked = True
    info = (
        Connection.objects.filter(pk=connection_id)
        .values_list("connection_info", flat=True)
        .first()
    )
    negotiations = (info or {}).get("negotiations") or []
    first = negotiations[0] if negotiations else None
    if not first or first.get("status") != "connected" or not first.get("start_time"):
        return []
    started = datetime.fromisoformat(str(first["start_time"]).replace("Z", "+00:00"))
    ended = datetime.fromisoformat(str(first.get("end_time") or iso(at)).replace("Z", "+00:00"))
    if Issue.objects.filter(
        code="slow_connection_setup", subject=f"connection:{connection_id}"
    ).exists():
        return []
    return connectivity.setup_finished(state, started=started, connected_at=ended)


def _candidate_error(event: GenericEvent, state: ConnectionState) -> None:
    """One ``icecandidateerror`` issue per connection: later errors add to
    its count. Open until the connection connects (a point in time if it
    already had)."""
    subject = f"connection:{event.connection_id}"
    evidence = event.data if isinstance(event.data, dict) else {"data": event.data}
    existing = Issue.objects.filter(code="icecandidateerror", subject=subject).first()
    if existing is not None:
        data = dict(existing.data or {})
        data["count"] = int(data.get("count") or 1) + 1
        Issue.objects.filter(pk=existing.pk).update(data=data)
        return
    connected = state.connected or (
        Connection.objects.filter(pk=event.connection_id, state=Connection.State.CONNECTED).exists()  # type: ignore[misc]  # a connection event: the id is set
    )
    issue_open(
        scope=_event_scope(event),
        code="icecandidateerror",
        subject=subject,
        at=event.created_at,
        evidence={**evidence, "count": 1},
        resolved_at=event.created_at if connected else None,
    )
    if not connected:
        rule = state.rule("icecandidateerror", subject)
        rule.open, rule.onset = True, event.created_at


def _get_user_media(event: GenericEvent) -> None:
    """``getusermedia_error`` per session: raised by a failed getUserMedia
    (data.error), counting further failures, resolved when one succeeds."""
    data = event.data if isinstance(event.data, dict) else {}
    subject = f"session:{event.session_id}"
    if "error" in data:
        error = data["error"] if isinstance(data["error"], dict) else {"name": str(data["error"])}
        error = {k: error.get(k) for k in ("name", "message", "constraint") if error.get(k)}
        existing = _open_issues("getusermedia_error", subject).first()
        if existing is not None:
            evidence = dict(existing.data or {})
            evidence["count"] = int(evidence.get("count") or 1) + 1
            Issue.objects.filter(pk=existing.pk).update(data=evidence)
            return
        issue_open(
            scope=_event_scope(event, with_connection=False),
            code="getusermedia_error",
            subject=subject,
            at=event.created_at,
            evidence={**error, "count": 1},
        )
        return
    kinds = {kind for kind in ("audio", "video") if data.get(kind)}
    if kinds:
        issue_resolve(code="getusermedia_error", subject=subject, at=event.created_at)
        marks = live.STATE.marks_load(event.conference_id, event.participant_id)
        for kind in kinds & marks.stopped_kinds:
            marks.lift(f"kind:{kind}", event.created_at)
        marks.stopped_kinds -= kinds
        live.STATE.marks_save(event.conference_id, event.participant_id, marks)


def _track_event(event: GenericEvent) -> None:
    """Remember tracks the participant ended or that went muted, so a
    stopped camera is not reported as broken media."""
    if event.type not in {"ended", "mute", "unmute"} or event.track_id is None:
        return
    track = (
        Track.objects.filter(pk=event.track_id).values("track_id", "kind", "connection_id").first()
    )
    if track is None:
        return
    marks = live.STATE.marks_load(event.conference_id, event.participant_id)
    ident = track["track_id"]
    if event.type == "ended":
        marks.ended_idents.add(ident)
        if track["connection_id"] is None and track["kind"]:
            # A local capture track stopped: the peers stop receiving it.
            marks.stopped_kinds.add(track["kind"])
    elif event.type == "mute":
        marks.muted_idents.add(ident)
    else:
        if ident in marks.muted_idents:
            marks.lift(f"track:{ident}", event.created_at)
        marks.muted_idents.discard(ident)
    live.STATE.marks_save(event.conference_id, event.participant_id, marks)


# ----------------------------------------------------------------- sessions


def session_started(*, session: Session) -> None:
    """A session was created: a second session of the participant in the
    conference is a rejoin. One ``multiple_rejoins`` issue per participant
    and conference, counting the sessions, resolved when the conference
    ends."""
    sessions = Session.objects.filter(
        conference_id=session.conference_id, participant_id=session.participant_id
    ).count()
    if sessions < 2:
        return
    subject = f"participant:{session.participant_id}@{session.conference_id}"
    updated = Issue.objects.filter(code="multiple_rejoins", subject=subject).update(
        data={"sessions": sessions}
    )
    if not updated:
        issue_open(
            scope=IssueScope(
                app_id=session.app_id,
                conference_id=session.conference_id,
                participant_id=session.participant_id,
            ),
            code="multiple_rejoins",
            subject=subject,
            at=session.created_at,
            evidence={"sessions": sessions},
        )


def session_ended(*, session: Session, at: datetime) -> None:
    """A session ended (once per session). Closes the issues whose subject
    ended with it and runs the end-of-session checks ``no_media_access`` and
    ``no_connection`` — each recorded at most once per session."""
    scope = IssueScope(
        app_id=session.app_id,
        conference_id=session.conference_id,
        session_id=session.pk,
        participant_id=session.participant_id,
    )
    _no_media_access_check(session=session, scope=scope, at=at)
    _no_connection_check(session=session, scope=scope, at=at)
    for connection_id in _issues_close_ended_connections(session_id=session.pk):
        live.STATE.connection_drop(connection_id)
    Issue.objects.filter(subject=f"session:{session.pk}", resolved_at__isnull=True).update(
        resolved_at=_resolved_at(at)
    )
    # Symptoms of the session's connections ended: their causes may have.
    _diagnose(app_id=session.app_id, conference_id=session.conference_id, at=at)


def _once(code: str, subject: str) -> bool:
    return not Issue.objects.filter(code=code, subject=subject).exists()


def _no_media_access_check(*, session: Session, scope: IssueScope, at: datetime) -> None:
    """peermetrics ``no_media_access``: the session asked for media at least
    once and every request failed."""
    events = GenericEvent.objects.filter(
        session_id=session.pk, category=GenericEvent.Category.GET_USER_MEDIA
    ).values_list("data", "created_at")
    requests = [t for d, t in events if isinstance(d, dict) and "constraints" in d]
    failures = sorted(t for d, t in events if isinstance(d, dict) and "error" in d)
    if not requests or len(requests) != len(failures):
        return
    subject = f"session:{session.pk}"
    if _once("no_media_access", subject):
        issue_open(
            scope=scope,
            code="no_media_access",
            subject=subject,
            at=failures[0],
            evidence={"requests": len(requests), "failures": len(failures)},
            resolved_at=max(at, failures[0]),
        )


def _no_connection_check(*, session: Session, scope: IssueScope, at: datetime) -> None:
    """peermetrics ``no_connection`` (with api PR #30's evidence): the session
    had connections and none was ever established — no connected state
    event or negotiation, no media counted in its metrics."""
    connections = list(
        Connection.objects.filter(session_id=session.pk).values_list(
            "pk", "state", "connection_info", "start_time"
        )
    )
    if not connections:
        return
    for pk, state, info, _ in connections:
        negotiations = (info or {}).get("negotiations") or []
        if state == Connection.State.CONNECTED or any(
            n.get("status") == "connected" for n in negotiations
        ):
            return
        known = live.STATE.connection_peek(pk)
        if known is not None and known.established:
            return
    ids = [c[0] for c in connections]
    connected_event = GenericEvent.objects.filter(connection_id__in=ids).filter(
        Q(type="onconnectionstatechange", data="connected")
        | Q(type="oniceconnectionstatechange", data__in=["connected", "completed"])
    )
    if connected_event.exists():
        return
    if TrackMetric.objects.filter(connection_id__in=ids, packets__gt=0).exists():
        return
    subject = f"session:{session.pk}"
    if _once("no_connection", subject):
        started = min(c[3] for c in connections)
        issue_open(
            scope=scope,
            code="no_connection",
            subject=subject,
            at=started,
            evidence={"connections": len(connections)},
            resolved_at=max(at, started),
        )


def conference_ended(*, conference: Any, at: datetime) -> None:
    """The last open connection of the conference ended (after commit).

    Every issue still open ends with the call. With
    ``POST_CONFERENCE_CLEANUP`` the raw stats samples are deleted: metrics,
    issues and the summaries computed from them stay (the original server
    rebuilt its summary from the raw samples and lost it here)."""
    Issue.objects.filter(conference_id=conference.pk, resolved_at__isnull=True).update(
        resolved_at=_resolved_at(at)
    )
    signals.conference_closed.send(Issue, conference=conference, at=at)
    if settings.CONFIG.post_conference_cleanup:
        StatsSample.objects.filter(conference_id=conference.pk).delete()
    for connection_id in Connection.objects.filter(conference_id=conference.pk).values_list(
        "pk", flat=True
    ):
        live.STATE.connection_drop(connection_id)
    live.STATE.conference_drop(conference.pk)
