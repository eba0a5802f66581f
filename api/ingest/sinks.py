"""Where an accepted stats sample goes. Hot path: this module leaves the ORM.

Two sinks behind one interface (``accept``):

* ``DirectSink`` (default; SQLite and small installs): reads the connection
  and stores the sample in the request, with the post-storage work
  (connection type, tracks, metrics, detection) inline. On PostgreSQL the
  report is analysed first and one statement stores the sample with its
  metrics; on SQLite one transaction inserts the sample, then the metrics.
* ``QueuedSink`` (``INGEST_SINK=queued``, needs Redis): the request runs no
  SQL in steady state. The connection's owner comes from a per-process cache
  (read from the database once). The sample goes to the process's spool
  (api.ingest.spool: one file append; a thread forwards batches), or, with
  ``INGEST_SPOOL=off``, straight to Redis. Either way one Lua script call
  appends samples to a stream and says which connections have ended.
  ``manage.py ingest_worker`` writes the stream to the database in batches
  and acknowledges each batch after its commit (at-least-once; the sample
  id carried in the message makes a redelivery a no-op, and the report
  digest a retried request).

A connection that ends is marked in Redis (when configured) and dropped
from this process's cache, so ``connection_ended`` is answered, which is the
only way to make the SDK stop sending: at once in this process and, without
the spool, in every process; with the spool, another process answers it
from the sample after the first one its spool forwarded past the end.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import hashlib
import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from django.conf import settings
from django.core.signals import setting_changed
from django.db import connection as db
from django.db import transaction
from django.dispatch import receiver

from api.calls.models import Connection
from api.common import metrics
from api.common.errors import ApiError
from api.common.ids import uuid7
from api.common.logs import app_identified
from api.events.sql import execute
from api.events.writer import (
    SampleRow,
    report_digest,
    sample_insert,
    sample_prepare,
    sample_with_rows_insert,
)
from api.ingest.spool import Spool, SpoolFull

logger = logging.getLogger("api.ingest")


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


def _owned(state: ConnectionState | None, session_id: uuid.UUID) -> ConnectionState:
    # Another session's connection is answered like an unknown one: a token
    # must not learn that a connection id exists elsewhere.
    if state is None or state.session_id != session_id:
        raise ApiError("connection_not_found")
    app_identified(state.app_id)
    if state.ended:
        raise ApiError("connection_ended")
    return state


@dataclass(frozen=True)
class Accepted:
    connection_id: uuid.UUID
    session_id: uuid.UUID
    at: datetime
    raw: bytes  # the report: the JSON bytes the SDK sent


class DirectSink:
    def accept(self, sample: Accepted) -> None:
        from api.ingest.stats import sample_stored

        state = _owned(connection_state_read(sample.connection_id), sample.session_id)
        if db.vendor == "postgresql":
            self._accept_in_one_statement(sample, state)
            return
        # One transaction for the sample and its metrics: one commit (one
        # WAL flush) per request instead of one per statement. No savepoint:
        # if anything fails the request fails and the SDK retries it.
        with transaction.atomic(savepoint=False):
            sample_id = sample_insert(row=_row(sample, state), raw_report=sample.raw)
            (metrics.STATS_DUPLICATES if sample_id is None else metrics.STATS_STORED).inc()
            if sample_id is not None:
                sample_stored(
                    sample_id=sample_id,
                    connection_id=sample.connection_id,
                    state=state,
                    at=sample.at,
                    data=orjson.loads(sample.raw),
                )

    def _accept_in_one_statement(self, sample: Accepted, state: ConnectionState) -> None:
        """PostgreSQL: the report is analysed first, and the sample and its
        metric rows are stored by one statement (one round trip, its own
        transaction) when the analysis hands the rows over; the detectors
        then run only if the sample was new. A round trip costs ~70 µs of
        CPU on either side here, and the transaction took five."""
        from api.ingest.stats import sample_stored
        from api.quality import services as quality
        from api.quality.models import TrackMetric
        from api.quality.services import METRIC_COLUMNS

        prepared = sample_prepare(row=_row(sample, state), raw_report=sample.raw)
        stored: list[bool] = []

        def store(rows: list) -> bool:
            stored.append(
                sample_with_rows_insert(
                    prepared, model=TrackMetric, columns=METRIC_COLUMNS, rows=rows
                )
            )
            return stored[0]

        with quality.stored_with_metrics(store):
            sample_stored(
                sample_id=prepared.id,
                connection_id=sample.connection_id,
                state=state,
                at=sample.at,
                data=orjson.loads(sample.raw),
            )
        if not stored:
            # The analysis failed before it stored anything (it is logged):
            # the sample itself is never lost.
            store([])
        (metrics.STATS_STORED if stored[0] else metrics.STATS_DUPLICATES).inc()


def _row(sample: Accepted, state: ConnectionState) -> SampleRow:
    return SampleRow(
        app_id=state.app_id,
        conference_id=state.conference_id,
        connection_id=sample.connection_id,
        created_at=sample.at,
    )


# ------------------------------------------------------------------ queued

# KEYS: the stream, then one ended marker per message (the marker of its
# connection). ARGV: a flag, then the messages. Returns, per message, 1
# (queued) or -1 (its connection ended): with the flag "1" the message is
# queued all the same (the spool forwards samples already answered 2xx,
# which must not be lost), with "0" it is not (the request is refused).
# A retried sample is queued again: the worker's insert recognises it by the
# report digest (the unique key of the samples table) and stores nothing,
# which costs less than a de-duplication key per sample kept in Redis.
_ACCEPT_LUA = """
local keep = ARGV[1] == '1'
local out = {}
for i = 2, #ARGV do
  local ended = redis.call('EXISTS', KEYS[i]) == 1
  if keep or not ended then
    redis.call('XADD', KEYS[1], '*', 'm', ARGV[i])
  end
  out[i - 1] = ended and -1 or 1
end
return out
"""
_ACCEPT_SHA = hashlib.sha1(_ACCEPT_LUA.encode()).hexdigest().encode()


@functools.cache
def redis_client():
    import redis

    return redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2, health_check_interval=30
    )


_ENDED_PREFIX = b"pm:ended:"
_SPOOL_SOCKET_TIMEOUT = 30


def _ended_key(connection_id: uuid.UUID) -> bytes:
    return _ENDED_PREFIX + connection_id.hex.encode()


# connection id → state, for connections this process has seen open.
_states: dict[uuid.UUID, ConnectionState] = {}
_STATES_LIMIT = 200_000


@functools.lru_cache(maxsize=16_384)
def _header_tail(state: ConnectionState, connection_id: uuid.UUID) -> bytes:
    """The end of a message header, the same for every sample of a
    connection: ``"app","conference",…,"type"]``."""
    return orjson.dumps(
        [
            state.app_id.hex,
            state.conference_id.hex,
            state.session_id.hex,
            state.participant_id.hex,
            state.peer_id.hex,
            connection_id.hex,
            state.type,
        ]
    )[1:]


def message_encode(sample_id: uuid.UUID, state: ConnectionState, sample: Accepted) -> bytes:
    """A JSON array header (sample id, time, the connection's owner and
    type), a newline, and the report as the SDK sent it."""
    return b'["%b",%b,%b\n%b' % (
        sample_id.hex.encode(),
        orjson.dumps(sample.at.timestamp()),
        _header_tail(state, sample.connection_id),
        sample.raw,
    )


@dataclass(frozen=True)
class QueuedSample:
    sample_id: uuid.UUID
    at: datetime
    state: ConnectionState
    connection_id: uuid.UUID
    digest: bytes
    raw: bytes


def message_decode(message: bytes) -> QueuedSample:
    header_bytes, _, raw = message.partition(b"\n")
    h = orjson.loads(header_bytes)
    return QueuedSample(
        sample_id=uuid.UUID(h[0]),
        at=datetime.fromtimestamp(h[1], UTC),
        state=ConnectionState(
            app_id=uuid.UUID(h[2]),
            conference_id=uuid.UUID(h[3]),
            session_id=uuid.UUID(h[4]),
            participant_id=uuid.UUID(h[5]),
            peer_id=uuid.UUID(h[6]),
            type=h[8],
            ended=False,
        ),
        connection_id=uuid.UUID(h[7]),
        # The digest is the worker's to compute; messages queued by an
        # earlier version carry it as a tenth field.
        digest=bytes.fromhex(h[9]) if len(h) > 9 else report_digest(raw),
        raw=raw,
    )


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(value), value)


def accept_command(stream: bytes, items: list[tuple[bytes, bytes]], *, keep: bool) -> bytes:
    """``EVALSHA`` of the accept script for (connection id hex, message)
    pairs, written out in RESP: redis-py's generic packer walked each 8 KB
    report once more."""
    parts = [b"EVALSHA", _ACCEPT_SHA, b"%d" % (len(items) + 1), stream]
    parts.extend(_ENDED_PREFIX + connection_hex for connection_hex, _ in items)
    parts.append(b"1" if keep else b"0")
    parts.extend(message for _, message in items)
    return b"*%d\r\n%b" % (len(parts), b"".join(_bulk(part) for part in parts))


class QueuedSink:
    """Accepts into a Redis stream: through the spool (api.ingest.spool;
    the default), or with one script call per request (``INGEST_SPOOL=off``).
    Redis is spoken to on connections of the sink's own, one per thread:
    redis-py's client-level call (pool checkout, instrumentation, response
    callbacks) cost twice the command itself."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._spool: Spool | None = None
        self._spool_lock = threading.Lock()

    def _connection(self, socket_timeout: float | None):
        connection = getattr(self._local, "connection", None)
        if connection is None:
            pool = redis_client().connection_pool
            kwargs = dict(pool.connection_kwargs)
            if socket_timeout is not None:
                kwargs["socket_timeout"] = socket_timeout
            connection = self._local.connection = pool.connection_class(**kwargs)
        return connection

    def send(
        self,
        items: list[tuple[bytes, bytes]],
        *,
        keep: bool = True,
        socket_timeout: float | None = None,
    ) -> list[int]:
        """Run the accept script for (connection id hex, message) pairs:
        per pair 1 (queued) or -1 (the connection had ended; queued all the
        same with ``keep``). ``socket_timeout`` applies to the calling
        thread's connection when this call opens it."""
        import redis

        connection = self._connection(socket_timeout)
        stream = settings.INGEST["STREAM"].encode()
        try:
            connection.send_packed_command(
                [accept_command(stream, items, keep=keep)], check_health=True
            )
            try:
                return connection.read_response()
            except redis.exceptions.NoScriptError:
                # Redis restarted (or flushed its scripts): send the text.
                keys = [_ENDED_PREFIX + connection_hex for connection_hex, _ in items]
                messages = [message for _, message in items]
                flag = b"1" if keep else b"0"
                connection.send_command(
                    "EVAL", _ACCEPT_LUA, len(keys) + 1, stream, *keys, flag, *messages
                )
                return connection.read_response()
        except Exception:
            connection.disconnect()  # the next call reconnects
            raise

    @property
    def spool(self) -> Spool:
        if self._spool is None:
            with self._spool_lock:
                if self._spool is None:
                    self._spool = Spool(
                        settings.INGEST["SPOOL_DIR"],
                        # Nobody waits on the spool's calls, and a batch can
                        # be megabytes: a slow answer beats a resend.
                        functools.partial(self.send, socket_timeout=_SPOOL_SOCKET_TIMEOUT),
                        on_ended=_ended_seen,
                        fsync_seconds=settings.INGEST["SPOOL_FSYNC_SECONDS"],
                    )
                    atexit.register(self._spool.close)
        return self._spool

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every sample this process accepted is in Redis."""
        return self._spool is None or self._spool.flush(timeout)

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()

    def accept(self, sample: Accepted) -> None:
        state = _states.get(sample.connection_id)
        if state is None:
            state = _owned(connection_state_read(sample.connection_id), sample.session_id)
            if len(_states) >= _STATES_LIMIT:
                _states.clear()
            _states[sample.connection_id] = state
        else:
            _owned(state, sample.session_id)
        message = message_encode(uuid7(), state, sample)
        connection_hex = sample.connection_id.hex.encode()
        if settings.INGEST["SPOOL"]:
            try:
                self.spool.put(connection_hex, message)
            except (SpoolFull, OSError) as exc:
                # Not accepted: the SDK retries, so nothing is lost.
                logger.warning("stats spool refused a sample: %s", exc)
                raise ApiError("service_unavailable") from exc
            return
        try:
            (result,) = self.send([(connection_hex, message)], keep=False)
        except Exception as exc:
            logger.warning("stats queue unavailable: %s", exc.__class__.__name__)
            raise ApiError("service_unavailable") from exc
        if result == -1:
            _ended_seen(connection_hex)
            raise ApiError("connection_ended")


def _ended_seen(connection_hex: bytes) -> None:
    """Redis said a forwarded sample's connection had ended (in another
    process): refuse its next sample here too."""
    connection_id = uuid.UUID(connection_hex.decode())
    state = _states.get(connection_id)
    if state is not None and not state.ended:
        _states[connection_id] = dataclasses.replace(state, ended=True)


_sinks: list[QueuedSink] = []


@functools.cache
def current_sink() -> DirectSink | QueuedSink:
    if settings.INGEST["SINK"] != "queued":
        return DirectSink()
    sink = QueuedSink()
    _sinks.append(sink)
    return sink


def connections_ended(connection_ids: list[uuid.UUID]) -> None:
    """Connections ended (called after the ending transaction commits): stop
    accepting their samples in every process at once."""
    for connection_id in connection_ids:
        _states.pop(connection_id, None)
    if not settings.REDIS_URL or not connection_ids:
        return
    try:
        pipe = redis_client().pipeline(transaction=False)
        for connection_id in connection_ids:
            pipe.set(_ended_key(connection_id), b"1", ex=settings.INGEST["ENDED_SECONDS"])
        pipe.execute()
    except Exception as exc:
        # The database stays the truth: a cache miss reads end_time there.
        logger.warning("could not mark %d ended connections in Redis: %s", len(connection_ids), exc)


@receiver(setting_changed)
def _sink_settings_changed(setting: str, **kwargs) -> None:
    if setting in {"INGEST", "REDIS_URL"}:
        for sink in _sinks:
            sink.close()
        _sinks.clear()
        current_sink.cache_clear()
        redis_client.cache_clear()
        _states.clear()
