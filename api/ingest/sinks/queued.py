"""The queued sink (``INGEST_SINK=queued``, needs Redis). Hot path.

The request runs no SQL in steady state: the connection comes from the
per-process cache (:mod:`api.ingest.sinks.connections`, read from the
database once). The sample goes to the process's spool (api.ingest.spool:
one file append; a thread forwards batches), or, with ``INGEST_SPOOL=off``,
straight to Redis. Either way one Lua script call appends samples to a
stream and says which connections have ended. ``manage.py ingest_worker``
writes the stream to the database in batches and acknowledges each batch
after its commit (at-least-once; the sample id carried in the message makes
a redelivery a no-op, and the report digest a retried request).

A connection that ends is marked in Redis and dropped from this process's
cache (:func:`connections_ended`), so ``connection_ended`` is answered: at
once in this process and, without the spool, in every process; with the
spool, another process answers it from the sample after the first one its
spool forwarded past the end.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import logging
import threading
import uuid
from collections.abc import Callable

from django.conf import settings

from api.common.errors import ApiError
from api.common.ids import uuid7
from api.ingest import budget, overload
from api.ingest.body import StatsSampleIn
from api.ingest.sinks.codec import message_encode
from api.ingest.sinks.connections import connection_cached, connection_ended_seen
from api.ingest.spool import Spool, SpoolFull

logger = logging.getLogger("api.ingest")

# KEYS: the stream, then one ended marker per message (the marker of its
# connection). ARGV: a flag, then the messages. Returns 1 when Redis had no
# epoch marker for the stream (its first use, or Redis came back without its
# data: the spool then sends again what it forwarded recently), else 0; the
# stream's length and the age in ms of its oldest entry (the worker deletes
# what it stored, so that is the backlog: api.ingest.overload); then, per
# message, 1 (queued) or -1 (its connection ended): with the flag "1" the
# message is queued all the same (the spool forwards samples already
# answered 2xx, which must not be lost), with "0" it is not (the request is
# refused).
# A retried sample is queued again: the worker's insert recognises it by the
# report digest (the unique key of the samples table) and stores nothing,
# which costs less than a de-duplication key per sample kept in Redis.
_ACCEPT_LUA = """
local keep = ARGV[1] == '1'
local out = {0, 0, 0}
if redis.call('SET', KEYS[1] .. ':epoch', '1', 'NX') then
  out[1] = 1
end
for i = 2, #ARGV do
  local ended = redis.call('EXISTS', KEYS[i]) == 1
  if keep or not ended then
    redis.call('XADD', KEYS[1], '*', 'm', ARGV[i])
  end
  out[i + 2] = ended and -1 or 1
end
out[2] = redis.call('XLEN', KEYS[1])
local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
if oldest then
  local now = redis.call('TIME')
  local ms = tonumber(string.match(oldest[1], '^(%d+)'))
  out[3] = math.max(0, tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - ms)
end
return out
"""
_ACCEPT_SHA = hashlib.sha1(_ACCEPT_LUA.encode()).hexdigest().encode()


@functools.cache
def redis_client():
    import redis

    return redis.Redis.from_url(
        settings.CONFIG.redis_url,
        socket_timeout=2,
        socket_connect_timeout=2,
        health_check_interval=30,
    )


_ENDED_PREFIX = b"pm:ended:"
# How long an ended connection is remembered as ended in Redis.
ENDED_SECONDS = 3 * 86400
_SPOOL_SOCKET_TIMEOUT = 30


def _ended_key(connection_id: uuid.UUID) -> bytes:
    return _ENDED_PREFIX + connection_id.hex.encode()


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
        # Told when Redis had lost the stream (the spool sends again).
        self.on_reset: Callable[[], None] | None = None
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
        stream = settings.CONFIG.ingest_stream.encode()
        try:
            connection.send_packed_command(
                [accept_command(stream, items, keep=keep)], check_health=True
            )
            try:
                reply = connection.read_response()
            except redis.exceptions.NoScriptError:
                # Redis restarted (or flushed its scripts): send the text.
                keys = [_ENDED_PREFIX + connection_hex for connection_hex, _ in items]
                messages = [message for _, message in items]
                flag = b"1" if keep else b"0"
                connection.send_command(
                    "EVAL", _ACCEPT_LUA, len(keys) + 1, stream, *keys, flag, *messages
                )
                reply = connection.read_response()
        except Exception:
            connection.disconnect()  # the next call reconnects
            raise
        if reply[0] == 1 and self.on_reset is not None:
            self.on_reset()
        overload.controller().backlog_seen(reply[1], reply[2] / 1000)
        return reply[3:]

    @property
    def spool(self) -> Spool:
        if self._spool is None:
            with self._spool_lock:
                if self._spool is None:
                    self._spool = Spool(
                        settings.CONFIG.ingest_spool_dir,
                        # Nobody waits on the spool's calls, and a batch can
                        # be megabytes: a slow answer beats a resend.
                        functools.partial(self.send, socket_timeout=_SPOOL_SOCKET_TIMEOUT),
                        on_ended=_ended_seen,
                        fsync_seconds=settings.CONFIG.ingest_spool_fsync_seconds,
                        resend_seconds=settings.CONFIG.ingest_spool_resend_seconds,
                    )
                    self.on_reset = self._spool.redis_reset_seen
                    atexit.register(self._spool.close)
        return self._spool

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every sample this process accepted is in Redis."""
        return self._spool is None or self._spool.flush(timeout)

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()

    def accept(self, sample: StatsSampleIn) -> None:
        """Authorise the sample against the cached connection, then append
        it to the spool (or queue it in Redis). Raises ``connection_not_found``,
        ``connection_ended``, ``service_unavailable`` (nothing accepted: the
        SDK retries)."""
        state = connection_cached(sample.connection_id, sample.session_id)
        message = message_encode(uuid7(), state, sample)
        connection_hex = sample.connection_id.hex.encode()
        if settings.CONFIG.ingest_spool:
            try:
                self.spool.put(connection_hex, message)
            except (SpoolFull, OSError) as exc:
                # Not accepted: the SDK retries, so nothing is lost.
                logger.warning("stats spool refused a sample: %s", exc)
                raise ApiError("service_unavailable") from exc
            budget.stats_counted(state.app_id)
            return
        try:
            (result,) = self.send([(connection_hex, message)], keep=False)
        except Exception as exc:
            logger.warning("stats queue unavailable: %s", exc.__class__.__name__)
            raise ApiError("service_unavailable") from exc
        if result < 0:
            _ended_seen(connection_hex)
            raise ApiError("connection_ended")
        budget.stats_counted(state.app_id)


def _ended_seen(connection_hex: bytes) -> None:
    """Redis said a forwarded sample's connection had ended (in another
    process): refuse its next sample here too."""
    connection_ended_seen(uuid.UUID(connection_hex.decode()))


def connections_mark_ended(connection_ids: list[uuid.UUID]) -> None:
    """Mark ended connections in Redis, so that every process refuses
    their samples. Best effort: the database stays the truth (a process
    that does not know the connection reads its end there)."""
    if not settings.CONFIG.redis_url or not connection_ids:
        return
    try:
        pipe = redis_client().pipeline(transaction=False)
        for connection_id in connection_ids:
            pipe.set(_ended_key(connection_id), b"1", ex=ENDED_SECONDS)
        pipe.execute()
    except Exception as exc:
        logger.warning("could not mark %d ended connections in Redis: %s", len(connection_ids), exc)
