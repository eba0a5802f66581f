"""What the stats path knows about a connection, and keeps per process.
Hot path: the connection is read with one statement outside the ORM.

* :class:`ConnectionState`, read by :func:`connection_state_read` and
  checked against the sample's session by :func:`connection_owned`: a
  connection of another session is answered like an unknown one, an ended
  one with ``connection_ended`` (the only way to make the SDK stop sending).
* The queued sink's cache of open connections (:func:`connection_cached`):
  in steady state its requests run no SQL. A connection that ends is dropped
  from it (:func:`connections_forget`), or marked ended when Redis says so.
* Track ids by (connection, direction, track identifier)
  (:func:`sample_track_ids`): tracks are created once
  (:func:`api.calls.services.connection_tracks_get_or_create`, a sample's or
  a batch's new ones in one statement) and then found here.
* The connection type: written when a sample shows another local candidate
  type than the one known (:func:`connection_type_seen`), never reset by an
  early sample that has no selected pair yet.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime

import orjson
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

from api.calls import services as calls
from api.calls.models import Connection
from api.common.errors import ApiError
from api.common.logs import app_identified
from api.events import privacy
from api.events.writer import execute
from api.quality import metrics
from api.quality.analysis import SampleContext
from api.tenancy.app_state import app_state, app_state_require


@dataclass(frozen=True)
class ConnectionState:
    """What the stats path needs to know about a connection."""

    session_id: uuid.UUID
    conference_id: uuid.UUID
    participant_id: uuid.UUID
    peer_id: uuid.UUID
    app_id: uuid.UUID
    type: str | None
    ended: bool


_CONNECTION_SQL = (
    "SELECT session_id, conference_id, participant_id, peer_id, app_id, type, end_time "
    f'FROM "{Connection._meta.db_table}" WHERE id = %s'
)
_ID_FIELD = Connection._meta.get_field("id")


def _as_uuid(value) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


def connection_state_read(connection_id: uuid.UUID) -> ConnectionState | None:
    db = connections[DEFAULT_DB_ALIAS]
    row = execute(_CONNECTION_SQL, [_ID_FIELD.get_db_prep_value(connection_id, db)], fetch="one")
    if row is None:
        return None
    return ConnectionState(
        session_id=_as_uuid(row[0]),
        conference_id=_as_uuid(row[1]),
        participant_id=_as_uuid(row[2]),
        peer_id=_as_uuid(row[3]),
        app_id=_as_uuid(row[4]),
        type=row[5],
        ended=row[6] is not None,
    )


def connection_owned(state: ConnectionState | None, session_id: uuid.UUID) -> ConnectionState:
    """``state`` if it is an open connection of ``session_id`` whose app may
    still record. Raises ``connection_not_found`` (unknown, or another
    session's: a token must not learn that a connection id exists
    elsewhere), ``invalid_token`` and ``app_not_recording`` (the app's
    state now, from the per-process map of api.tenancy.app_state: no SQL)
    or ``connection_ended``."""
    if state is None or state.session_id != session_id:
        raise ApiError("connection_not_found")
    app_identified(state.app_id)  # the request's log lines name the app
    app_state_require(state.app_id)
    if state.ended:
        raise ApiError("connection_ended")
    return state


def report_stored(app_id: uuid.UUID, raw: bytes) -> bytes:
    """The bytes of a stats report to store, as its app's privacy switch
    keeps it (:func:`report_private` without the parsed report: an app
    that keeps addresses costs no parse)."""
    if app_state(app_id).address_privacy == privacy.KEEP:
        return raw
    return report_private(app_id, raw)[1]


def report_private(app_id: uuid.UUID, raw: bytes) -> tuple[dict, bytes]:
    """A stats report (the JSON bytes the SDK sent) as its app's privacy
    switch keeps it: parsed, and the bytes to store (re-encoded unless the
    app keeps addresses)."""
    data = orjson.loads(raw)
    mode = app_state(app_id).address_privacy
    if mode == privacy.KEEP:
        return data, raw
    data = privacy.report_scrub(data, mode=mode, secret=settings.SECRET_KEY)
    return data, orjson.dumps(data)


# ------------------------------------------------- the queued sink's cache

# connection id → state, for connections this process has seen open.
_states: dict[uuid.UUID, ConnectionState] = {}
_STATES_LIMIT = 200_000


def connection_cached(connection_id: uuid.UUID, session_id: uuid.UUID) -> ConnectionState:
    """:func:`connection_owned` from this process's cache, read from the
    database once per connection."""
    state = _states.get(connection_id)
    if state is not None:
        return connection_owned(state, session_id)
    state = connection_owned(connection_state_read(connection_id), session_id)
    if len(_states) >= _STATES_LIMIT:
        _states.clear()
    _states[connection_id] = state
    return state


def connection_ended_seen(connection_id: uuid.UUID) -> None:
    """Redis said a connection had ended (in another process): refuse its
    next sample here too."""
    state = _states.get(connection_id)
    if state is not None and not state.ended:
        _states[connection_id] = dataclasses.replace(state, ended=True)


def connections_forget(connection_ids: list[uuid.UUID]) -> None:
    """Connections ended: the next sample reads their end in the database."""
    for connection_id in connection_ids:
        _states.pop(connection_id, None)


def cache_clear() -> None:
    _states.clear()


# ----------------------------------------------------------- the sample


def sample_context(
    *,
    state: ConnectionState,
    connection_id: uuid.UUID,
    sample_id: uuid.UUID,
    at: datetime,
    data: dict,
) -> SampleContext:
    """Whose a sample is, with the ids of the tracks its report names
    (created on first sight: :func:`sample_track_ids`)."""
    return SampleContext(
        sample_id=sample_id,
        app_id=state.app_id,
        conference_id=state.conference_id,
        session_id=state.session_id,
        participant_id=state.participant_id,
        peer_id=state.peer_id,
        connection_id=connection_id,
        created_at=at,
        track_ids=sample_track_ids(
            state=state, connection_id=connection_id, named=metrics.report_tracks(data)
        ),
    )


# ------------------------------------------------------------------ tracks

# connection id → (direction, track identifier) → Track id. Tracks are
# never re-keyed, so entries stay true; the map is dropped when it grows
# large. By connection first: a sample's four lookups hash its UUID once.
_track_ids: dict[uuid.UUID, dict[tuple[str, str], uuid.UUID]] = {}
_TRACK_MAP_LIMIT = 25_000


def track_ids_forget() -> None:
    """Forget every track id learnt so far: a transaction that created
    tracks was rolled back (the ingest worker's failed batch), and ids
    learnt in it name rows that do not exist."""
    _track_ids.clear()


def tracks_learn(samples: list[tuple[ConnectionState, uuid.UUID, bytes]]) -> None:
    """The tracks named by the first of ``samples`` (state, connection id,
    the report's JSON bytes) of each connection this process knows no track
    of yet, created or found all at once
    (:func:`api.calls.services.connection_tracks_get_or_create`) and learnt,
    so that :func:`sample_track_ids` finds them. The ingest worker's first
    batches are all such samples: one at a time, their thousands of new
    tracks held the backlog for seconds. Only those first reports are
    parsed (once more, once per connection)."""
    wanted = []
    seen: set[uuid.UUID] = set()
    for state, connection_id, raw in samples:
        if connection_id in _track_ids or connection_id in seen:
            continue
        seen.add(connection_id)
        for (direction, ident), kind in metrics.report_tracks(orjson.loads(raw)).items():
            wanted.append((state.session_id, connection_id, direction, ident, kind))
    if not wanted:
        return
    if len(_track_ids) > _TRACK_MAP_LIMIT:
        _track_ids.clear()
    for (connection_id, direction, ident), track_id in calls.connection_tracks_get_or_create(
        wanted
    ).items():
        _track_ids.setdefault(connection_id, {})[(direction, ident)] = track_id


def sample_track_ids(
    *, state: ConnectionState, connection_id: uuid.UUID, named: dict[tuple[str, str], str]
) -> dict[tuple[str, str, str], uuid.UUID]:
    """(direction, kind, track identifier) → Track id for the tracks a
    sample's reports name (``named``: (direction, identifier) → kind),
    created on first sight."""
    known = _track_ids.get(connection_id)
    if known is None:
        if len(_track_ids) > _TRACK_MAP_LIMIT:
            _track_ids.clear()
        known = _track_ids[connection_id] = {}
    missing = [
        (state.session_id, connection_id, key[0], key[1], kind)
        for key, kind in named.items()
        if key not in known
    ]
    if missing:
        # A connection's first sample names all its tracks: made in one
        # statement (one commit for the direct sink, not one a track).
        made = calls.connection_tracks_get_or_create(missing)
        for (_, direction, ident), track_id in made.items():
            known[(direction, ident)] = track_id
    return {(key[0], kind, key[1]): known[key] for key, kind in named.items()}


# ------------------------------------------------------------------- types


def connection_type_seen(
    *, state: ConnectionState, connection_id: uuid.UUID, candidate_type: str | None
) -> None:
    """A stored sample's selected pair has this local candidate type:
    recorded on the connection when it differs from the known one (one
    UPDATE, rarely)."""
    if candidate_type and candidate_type != state.type:
        calls.connection_type_set(connection_id=connection_id, type=candidate_type)
