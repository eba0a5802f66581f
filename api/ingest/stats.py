"""``POST /v1/stats``: the hot path.

The body is checked here and handed to a sink (api.ingest.sinks): with the
direct sink, steady state is two SQL statements on PostgreSQL (read the
connection; insert the sample with its metrics) and three on SQLite; with
the queued sink, none. Tracks a report names are
created once and then found in a per-process map; the connection type is
written only when it changes, and never reset by an early sample that has
no selected candidate pair yet.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db import transaction

from api.calls.models import Connection, Track
from api.common.errors import ApiError
from api.common.time import back_dated
from api.ingest.body import StatsBody, delta_ms, opt_uuid
from api.ingest.sinks import Accepted, ConnectionState, current_sink
from api.quality import services as quality
from api.quality.services import SampleContext

_CANDIDATE_TYPES = set(Connection.Type.values)
_KINDS = ("audio", "video")
_DIRECTIONS = ("inbound", "outbound")

# (connection id, direction, track identifier) → Track id. Tracks are never
# re-keyed, so entries stay true; the map is dropped when it grows large.
_track_ids: dict[tuple[uuid.UUID, str, str], uuid.UUID] = {}
_TRACK_MAP_LIMIT = 100_000


def stats_ingest(*, session_id: uuid.UUID, body: StatsBody) -> None:
    """Accept one stats sample of a connection of ``session_id`` into the
    configured sink (api.ingest.sinks).

    Errors: ``missing_parameters`` (no connectionId), ``connection_not_found``
    (unknown id, or a connection of another session), ``connection_ended``,
    ``invalid_parameters`` (``data`` is not an object, bad ``delta``),
    ``service_unavailable`` (the queue is down; the SDK retries).
    Idempotent: a retry of an accepted sample is answered like the original
    and stores nothing."""
    if body.connectionId is None:
        raise ApiError("missing_parameters", "'connectionId' is required.")
    connection_id = opt_uuid(
        {"connectionId": body.connectionId}, "connectionId", not_found="connection_not_found"
    )
    raw = bytes(body.data)
    if not raw.lstrip()[:1] == b"{":
        raise ApiError("invalid_parameters", "'data' must be an object.")
    at = back_dated(delta_ms=delta_ms({"delta": body.delta}))
    current_sink().accept(
        Accepted(connection_id=connection_id, session_id=session_id, at=at, raw=raw)
    )


def sample_stored(
    *,
    sample_id: uuid.UUID,
    connection_id: uuid.UUID,
    state: ConnectionState,
    at: datetime,
    data: dict,
) -> None:
    """The work after a new sample is stored (in the request with the direct
    sink, in the worker with the queued one): the connection type from the
    selected candidate pair, the tracks the reports name, then metrics and
    detection."""
    candidate_type = local_candidate_type(data)
    if candidate_type and candidate_type != state.type:
        # Only this column: never a full-row save that could undo a
        # concurrent close.
        Connection.objects.filter(pk=connection_id).exclude(type=candidate_type).update(
            type=candidate_type
        )

    track_ids = _tracks_link(
        session_id=state.session_id, connection_id=connection_id, named=_named_tracks(data)
    )
    quality.sample_received(
        context=SampleContext(
            sample_id=sample_id,
            app_id=state.app_id,
            conference_id=state.conference_id,
            session_id=state.session_id,
            participant_id=state.participant_id,
            peer_id=state.peer_id,
            connection_id=connection_id,
            created_at=at,
            track_ids=track_ids,
        ),
        data=data,
    )


def local_candidate_type(data: dict) -> str | None:
    pair = data.get("connection")
    local = pair.get("local") if isinstance(pair, dict) else None
    value = local.get("candidateType") if isinstance(local, dict) else None
    return value if isinstance(value, str) and value in _CANDIDATE_TYPES else None


def _named_tracks(data: dict) -> dict[tuple[str, str], str]:
    """(direction, track identifier) → kind, for every inbound/outbound report
    that names its track (inbound reports carry ``trackIdentifier``; outbound
    ones carry their media-source as ``track``)."""
    named: dict[tuple[str, str], str] = {}
    for kind in _KINDS:
        section = data.get(kind)
        if not isinstance(section, dict):
            continue
        for direction in _DIRECTIONS:
            reports = section.get(direction)
            if not isinstance(reports, list):
                continue
            for report in reports:
                if not isinstance(report, dict):
                    continue
                ident = report.get("trackIdentifier")
                source = report.get("track")
                if not ident and isinstance(source, dict):
                    ident = source.get("trackIdentifier")
                if isinstance(ident, str) and 0 < len(ident) <= 64:
                    named[(direction, ident)] = kind
    return named


def _tracks_link(
    *, session_id: uuid.UUID, connection_id: uuid.UUID, named: dict[tuple[str, str], str]
) -> dict[tuple[str, str, str], uuid.UUID]:
    found: dict[tuple[str, str, str], uuid.UUID] = {}
    missing: dict[tuple[str, str], str] = {}
    for (direction, ident), kind in named.items():
        track_id = _track_ids.get((connection_id, direction, ident))
        if track_id is None:
            missing[(direction, ident)] = kind
        else:
            found[(direction, kind, ident)] = track_id
    if missing:
        for (direction, ident), kind in missing.items():
            track_id = _track_get_or_create(
                session_id=session_id,
                connection_id=connection_id,
                direction=direction,
                kind=kind,
                ident=ident,
            )
            if len(_track_ids) > _TRACK_MAP_LIMIT:
                _track_ids.clear()
            _track_ids[(connection_id, direction, ident)] = track_id
            found[(direction, kind, ident)] = track_id
    return found


def _track_get_or_create(
    *, session_id: uuid.UUID, connection_id: uuid.UUID, direction: str, kind: str, ident: str
) -> uuid.UUID:
    with transaction.atomic():
        # Two samples of one connection racing to create the same track wait
        # for each other here.
        Connection.objects.select_for_update(no_key=True).filter(pk=connection_id).values_list(
            "pk"
        ).first()
        track = Track.objects.filter(
            connection_id=connection_id, direction=direction, track_id=ident
        ).first()
        if track is None:
            track = Track.objects.create(
                session_id=session_id,
                connection_id=connection_id,
                direction=direction,
                kind=kind,
                track_id=ident,
                track_info={},
            )
        elif track.kind is None:
            Track.objects.filter(pk=track.pk).update(kind=kind)
    return track.pk
