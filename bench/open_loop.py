"""Open-loop SDK stats traffic: samples go out on the SDK's clock, answered or not.

The SDK posts every connection's stats from ``setInterval`` with ``fetch``
(wire protocol §4.7, §5): a slow answer does not delay the next sample, a
request is aborted after 10 s, and a failed one is sent again after 1, 2, 4,
8, 16 and 32 s with ``delta`` (ms since the first attempt) — unless its JSON
error body names an ``error_code`` the SDK gives up on. A generator that waits
for each answer before the next request slows down with the server and so
hides a collapse; this one keeps offering the same rate, and the retries a
slow server provokes add to the load as they do in the field.

Every browser (participant) has its own small pool of keep-alive HTTP/1.1
connections, at most six like Chrome's per-host limit; requests beyond that
wait for a free connection and their 10 s run while they wait, as a fetch's
abort timer does. The client is callbacks on asyncio protocols rather than a
coroutine per request: one Python process has to offer several thousand
requests/s on a core it shares with the server.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Callable

import orjson

TIMEOUT_S = 10.0
BACKOFF_S = (1, 2, 4, 8, 16, 32)
# The error codes the SDK does not retry (wire protocol §5).
NOT_RETRIED = frozenset(
    {
        "domain_not_allowed",
        "quota_exceeded",
        "invalid_api_key",
        "app_not_recording",
        "connection_ended",
    }
)
SHED = "quota_exceeded"
CHROME_CONNECTIONS_PER_HOST = 6

# Status of an attempt that got no answer: timed out on the wire, timed
# out before the browser had a connection for it, or the connection failed.
TIMED_OUT = -1
TIMED_OUT_WAITING = -2
NETWORK_ERROR = 0

Done = Callable[[int, bytes], None]


class Request:
    """One HTTP exchange; ``done(status, body)`` is called exactly once."""

    __slots__ = ("wire", "done", "finished", "conn", "resent")

    def __init__(self, wire: bytes, done: Done):
        self.wire, self.done = wire, done
        self.finished = False
        self.conn: Conn | None = None
        self.resent = False

    def finish(self, status: int, body: bytes) -> None:
        if self.finished:
            return
        self.finished = True
        self.done(status, body)

    def time_out(self) -> None:
        """The abort timer: a request on the wire loses its connection (a
        server working on it is not told otherwise), a waiting one its turn."""
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.abandon()
        self.finish(TIMED_OUT if conn is not None else TIMED_OUT_WAITING, b"")


class Deadlines:
    """The abort timers of every request. All have the same timeout, so they
    expire in the order the requests were made: a sweep every 50 ms over a
    queue does the work of a timer per request at a fraction of its cost."""

    SWEEP_S = 0.05

    def __init__(self, timeout: float = TIMEOUT_S):
        self.timeout = timeout
        self.queue: deque[tuple[float, Request]] = deque()
        self.loop = asyncio.get_running_loop()
        self.handle = self.loop.call_later(self.SWEEP_S, self._sweep)

    def add(self, request: Request) -> None:
        self.queue.append((self.loop.time() + self.timeout, request))

    def _sweep(self) -> None:
        now = self.loop.time()
        while self.queue and self.queue[0][0] <= now:
            request = self.queue.popleft()[1]
            if not request.finished:
                request.time_out()
        self.handle = self.loop.call_later(self.SWEEP_S, self._sweep)

    def stop(self) -> None:
        self.handle.cancel()


class Conn(asyncio.Protocol):
    """A keep-alive HTTP/1.1 connection carrying one request at a time."""

    def __init__(self, pool: Pool):
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.request: Request | None = None
        self.buffer = bytearray()
        self.used = False

    def connection_made(self, transport) -> None:
        self.transport = transport

    def send(self, request: Request) -> None:
        if request.finished:
            self.pool.release(self)
            return
        self.request, request.conn = request, self
        self.buffer.clear()
        assert self.transport is not None
        self.transport.write(request.wire)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0 or self.request is None:
            return
        head = bytes(self.buffer[:head_end]).lower()
        body_start = head_end + 4
        if b"transfer-encoding: chunked" in head:
            body = self._dechunk(body_start)
            if body is None:
                return
        else:
            at = head.find(b"content-length:")
            end = head.find(b"\r\n", at)
            length = int(head[at + 15 : end if end > 0 else len(head)]) if at >= 0 else 0
            if len(self.buffer) < body_start + length:
                return
            body = bytes(self.buffer[body_start : body_start + length])
        request, self.request = self.request, None
        request.conn = None
        self.used = True
        status = int(head[9:12])
        if b"connection: close" in head:
            self.abandon()
        else:
            self.pool.release(self)
        request.finish(status, body)

    def _dechunk(self, at: int) -> bytes | None:
        body = b""
        while True:
            line_end = self.buffer.find(b"\r\n", at)
            if line_end < 0:
                return None
            size = int(self.buffer[at:line_end].split(b";")[0], 16)
            if len(self.buffer) < line_end + 2 + size + 2:
                return None
            if size == 0:
                return body
            body += self.buffer[line_end + 2 : line_end + 2 + size]
            at = line_end + 2 + size + 2

    def abandon(self) -> None:
        """Close at once and take this connection out of its pool."""
        self.request = None
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        request, self.request = self.request, None
        self.pool.lost(self)
        if request is None:
            return
        request.conn = None
        # A keep-alive connection the server closed before answering
        # anything: the browser sends the request again on a new one.
        if self.used and not self.buffer and not request.resent:
            request.resent = True
            self.pool.submit(request)
        else:
            request.finish(NETWORK_ERROR, b"")


class Pool:
    """One browser's connections to the API host (see the module docstring)."""

    def __init__(self, host: str, port: int, deadlines: Deadlines, limit: int):
        self.host, self.port, self.limit = host, port, limit
        self.deadlines = deadlines
        self.idle: list[Conn] = []
        self.live: set[Conn] = set()
        self.opening = 0
        self.waiting: deque[Request] = deque()

    def request(self, wire: bytes, done: Done) -> None:
        request = Request(wire, done)
        self.deadlines.add(request)
        self.submit(request)

    def submit(self, request: Request) -> None:
        if self.idle:
            self.idle.pop().send(request)
        elif len(self.live) + self.opening < self.limit:
            self.opening += 1
            asyncio.get_running_loop().create_task(self._open(request))
        else:
            self.waiting.append(request)

    async def _open(self, request: Request) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(lambda: Conn(self), self.host, self.port)
        except OSError:
            self.opening -= 1
            request.finish(NETWORK_ERROR, b"")
            self._next_waiting()
            return
        self.opening -= 1
        self.live.add(conn)
        conn.send(request)

    def release(self, conn: Conn) -> None:
        while self.waiting:
            request = self.waiting.popleft()
            if not request.finished:
                conn.send(request)
                return
        self.idle.append(conn)

    def lost(self, conn: Conn) -> None:
        self.live.discard(conn)
        if conn in self.idle:
            self.idle.remove(conn)
        self._next_waiting()

    def _next_waiting(self) -> None:
        while self.waiting and self.waiting[0].finished:
            self.waiting.popleft()
        if self.waiting:
            self.submit(self.waiting.popleft())

    def close(self) -> None:
        for conn in list(self.live):
            conn.abandon()


class Sample:
    """One stats report and its attempts."""

    __slots__ = ("pool", "body", "created", "attempts")

    def __init__(self, pool: Pool, body: bytes, created: float):
        self.pool, self.body, self.created = pool, body, created
        self.attempts = 0


def request_head(host: str, port: int, method: str, path: str) -> bytes:
    """An SDK request's head up to the Content-Length value."""
    return (
        f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: text/plain\r\n"
        "Accept: application/json\r\nOrigin: http://127.0.0.1:18080\r\nContent-Length: "
    ).encode()


def request_wire(head: bytes, body: bytes) -> bytes:
    return head + b"%d\r\n\r\n" % len(body) + body


class StatsTally:
    """Posts stats samples the SDK's way and counts what became of them.

    ``first``: the first attempt's outcome per sample; ``final``: the
    sample's fate after the retries; latencies of every answered attempt,
    2xx and non-2xx apart; ``series``: per second of the run, attempts
    sent, retries, 2xx, shed and other errors (answers counted in the
    second they arrived)."""

    def __init__(self, host: str, port: int, path: str, started: float):
        self.head = request_head(host, port, "POST", path)
        self.started = started
        self.retrying = True
        self.pending = 0
        # Set while no sample waits for an answer or a retry: the end of a drain.
        self.settled = asyncio.Event()
        self.settled.set()
        self.sent = 0
        self.retries = 0
        self.first: Counter = Counter()
        self.final: Counter = Counter()
        self.ok_ms: list[float] = []
        self.error_ms: list[float] = []
        self.error_bodies_without_code = 0
        self.series: list[list[int]] = []

    def _second(self, now: float) -> list[int]:
        index = int(now - self.started)
        while len(self.series) <= index:
            self.series.append([0, 0, 0, 0, 0])  # sent, retries, 2xx, shed, errors
        return self.series[index]

    def post(self, pool: Pool, body: bytes) -> None:
        now = time.monotonic()
        self.sent += 1
        self.pending += 1
        self.settled.clear()
        self._second(now)[0] += 1
        self._attempt(Sample(pool, body, now), now)

    def _attempt(self, sample: Sample, now: float) -> None:
        body = sample.body
        if sample.attempts:
            delta = int((now - sample.created) * 1000)
            body = body[:-1] + b',"delta":%d}' % delta
            self.retries += 1
            self._second(now)[1] += 1
        sample.attempts += 1
        wire = request_wire(self.head, body)

        def done(status: int, answer: bytes) -> None:
            self._answered(sample, now, status, answer)

        sample.pool.request(wire, done)

    def _retry(self, sample: Sample) -> None:
        # After the run's drain the sample stays pending: reported unresolved.
        if self.retrying:
            self._attempt(sample, time.monotonic())

    def _answered(self, sample: Sample, sent: float, status: int, answer: bytes) -> None:
        now = time.monotonic()
        second = self._second(now)
        code: str | None = None
        if 200 <= status < 300:
            try:
                orjson.loads(answer)
            except orjson.JSONDecodeError:
                status, code = 200, "2xx body not JSON"  # a failure to the SDK
            else:
                self.ok_ms.append((now - sent) * 1000)
                second[2] += 1
                if sample.attempts == 1:
                    self.first["2xx"] += 1
                self._settle("2xx")
                return
        elif status > 0:
            self.error_ms.append((now - sent) * 1000)
            try:
                parsed = orjson.loads(answer)
                code = parsed.get("error_code") if isinstance(parsed, dict) else None
            except orjson.JSONDecodeError:
                code = None
            if not isinstance(code, str):
                self.error_bodies_without_code += 1
                code = None
        outcome = {
            TIMED_OUT: "timeout",
            TIMED_OUT_WAITING: "timeout waiting for a browser connection",
            NETWORK_ERROR: "network error",
        }.get(status, f"{status} {code}")
        if code == SHED:
            second[3] += 1
        else:
            second[4] += 1
        if sample.attempts == 1:
            self.first["shed" if code == SHED else outcome] += 1
        if code in NOT_RETRIED:
            self._settle("shed" if code == SHED else f"not retried: {outcome}")
        elif sample.attempts > len(BACKOFF_S):
            self._settle("abandoned after retries")
        else:
            delay = BACKOFF_S[sample.attempts - 1]
            asyncio.get_running_loop().call_later(delay, self._retry, sample)

    def _settle(self, fate: str) -> None:
        self.final[fate] += 1
        self.pending -= 1
        if not self.pending:
            self.settled.set()


class Backlog(threading.Thread):
    """Once a second: the ingest stream's length and age, and the rows stored.

    The age is now minus the id time of the stream's oldest entry (the
    worker deletes entries once stored). The stored count is PostgreSQL's
    cumulative insert counter of the sample partitions: cheap, and flushed
    by the backends about once a second, so a second's figure can lag."""

    STORED = (
        "SELECT coalesce(sum(n_tup_ins), 0) FROM pg_stat_user_tables "
        "WHERE relname LIKE 'events_statssample%'"
    )

    def __init__(self, started: float):
        super().__init__(daemon=True)
        self.started = started
        self.halt = threading.Event()
        self.rows: list[dict] = []
        self.stream = os.environ.get("INGEST_STREAM", "pm:stats")
        # The server's sink, read as the server reads it (direct unless
        # queued): a stream left in Redis by an earlier queued run is not
        # this run's backlog. A bare REDIS_HOST means its port 6379, db 0.
        host = os.environ.get("REDIS_HOST") if os.environ.get("INGEST_SINK") == "queued" else None
        self.redis_url = host if not host or "://" in host else f"redis://{host}:6379/0"
        self.database_url = os.environ["DATABASE_URL"]

    def run(self) -> None:
        import psycopg
        import redis

        r = redis.Redis.from_url(self.redis_url) if self.redis_url else None
        with psycopg.connect(self.database_url, autocommit=True) as db:
            base = None
            tick = self.started
            while not self.halt.is_set():
                row: dict = {"t": round(time.monotonic() - self.started, 1)}
                if r is not None:
                    oldest = r.xrange(self.stream, "-", "+", count=1)
                    row["backlog"] = r.xlen(self.stream)
                    row["backlog_age_s"] = (
                        round(time.time() - int(oldest[0][0].split(b"-")[0]) / 1000, 2)
                        if oldest
                        else 0.0
                    )
                stored = int(db.execute(self.STORED).fetchone()[0])
                base = stored if base is None else base
                row["stored"] = stored - base
                self.rows.append(row)
                tick += 1.0
                self.halt.wait(max(0.0, tick - time.monotonic()))

    def stop(self) -> None:
        self.halt.set()
        self.join()


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"count": 0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {
        "count": len(ordered),
        "p50_ms": at(0.50),
        "p95_ms": at(0.95),
        "p99_ms": at(0.99),
        "max_ms": round(ordered[-1], 2),
    }
