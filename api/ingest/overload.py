"""Overload control for ``POST /v1/stats``: degrade, never collapse.

A stats request the server cannot answer before the SDK's 10 s timeout is
worse than one it refuses at once: the SDK gives up on it, sends it again
(six times, ~63 s) and the server still does the work of every copy. Left
alone, an offered load above capacity grows the queue until almost nothing
is answered in time (docs/scaling.md, "Overload"). So each web process:

* **Answers late requests at once while it is behind** (on by default,
  ``INGEST_STATS_DEADLINE_MS``): when more than a tenth of a second's stats
  requests reached it past the deadline after they were sent (read on each
  connection's own clock, :meth:`Controller.late`), its late ones the next
  second are answered before any work.

and, with ``INGEST_STATS_WAIT_MS`` set (off by default: in the open-loop
benchmark the sampling factor still overshoots, docs/benchmarks.md):

* **Queues boundedly, with a deadline.** At most ``slots`` stats requests
  run at once (one for the queued sink, whose requests wait for nothing; two
  for the direct sink, whose two overlap their database round trips); up to
  ``INGEST_STATS_QUEUE`` more wait for a slot, each at most
  ``INGEST_STATS_WAIT_MS``. A request that finds the queue full or waits too
  long is answered at once. (granian must hand requests to Python to be
  seen waiting: ``--blocking-threads`` above the slots plus the queue, e.g.
  16; with one thread the queue is granian's, out of sight.)
* **Samples instead of refusing at random.** More than one refusal in
  fifty sets the *sampling factor* N to what brings the kept samples
  down to what the slots can serve (arrived ÷ (0.9 × the most they served
  in a second lately)), up to ``INGEST_SHED_MAX_FACTOR``; two calm seconds
  lower it by one. While N > 1 a process keeps, of each connection,
  two samples in a row out of every 2N, from the first it sees, and answers
  the others before any work, so what it keeps is spread over every call.
  Counters in a report are cumulative, so the kept samples give the same
  totals; each kept pair gives the rates of one interval, so the detectors
  still open and close issues, N intervals later at most.
* **Slows down while the backlog is past its bound** (on by default, also
  with the rest off). The queued sink reads the Redis stream's length and
  the age of its oldest unstored sample with every batch it forwards. Past
  ``INGEST_BACKLOG_MAX`` or ``INGEST_BACKLOG_MAX_AGE_SECONDS``, each
  accepted request holds its thread (its slot, with the control on) a
  little longer (a *pace*, doubled each second the backlog stays over,
  halved each second it is under), which hands the CPU to the ingest worker: the
  accepted rate falls to the stored rate instead of the stream growing
  without bound. Clients that wait for their answer slow down with it; the
  SDK's, which send on a clock, queue up, and the queue's pressure turns into
  sampling.
* **Says so in a way the SDK understands.** A sample not kept is answered
  ``429`` with ``error_code`` ``quota_exceeded``: the SDK does not retry
  that code and goes on sending its next samples. Nothing is answered 2xx
  that will not be stored. While N > 1, ``/v1/initialize`` tells new
  sessions a getStatsInterval N times the app's.

State is per process (each sees its own share of the load); the backlog is
the same Redis stream for all of them.
"""

from __future__ import annotations

import functools
import io
import math
import threading
import time
from collections.abc import Callable, Iterable

import orjson
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from api.common import metrics
from api.common.errors import ApiError

SHED_MESSAGE = (
    "The server is overloaded: this sample was not stored. Keep sending: "
    "later samples of this connection are kept."
)
_SHED_BODY = orjson.dumps({**ApiError("quota_exceeded", SHED_MESSAGE).body(), "overloaded": True})
_SHED_STATUS = "429 Too Many Requests"
WINDOW_SECONDS = 1.0
# Backlog figures older than this are not evidence of anything (Redis away,
# or no batch forwarded lately because nothing arrives).
_BACKLOG_FRESH_SECONDS = 5.0
# The pace while the backlog is over its bound: from the first, doubled up to
# the last, seconds per accepted request.
_PACE_FIRST_S = 0.0005
_PACE_MAX_S = 0.05
# Connections remembered while sampling; beyond, the count starts again.
_SEEN_LIMIT = 200_000
_CONNECTION_KEY = b'"connectionId"'
_TIMESTAMP_KEY = b'"timestamp":'
# A process is behind when more than this share of a second's stats requests
# (and at least _LATE_MIN of them) came later than the deadline.
_LATE_SHARE = 0.1
_LATE_MIN = 5
# How long the connections' clock references are kept.
_OFFSETS_SECONDS = 600.0
_DELTA_KEY = b'"delta":'


class Controller:
    """One process's admission and sampling state (see the module)."""

    def __init__(
        self,
        *,
        slots: int,
        queue: int,
        wait_s: float,
        max_factor: int,
        backlog_max: int,
        backlog_max_age_s: float,
        deadline_ms: int = 0,
    ) -> None:
        self.queue = queue
        self.wait_s = wait_s
        self.max_factor = max(1, max_factor)
        self.backlog_max = backlog_max
        self.backlog_max_age_s = backlog_max_age_s
        self.factor = 1
        self._slots = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self._waiting = 0
        self._seen: dict[bytes, int] = {}
        self._window_end = time.monotonic() + WINDOW_SECONDS
        self._refused = 0
        # Stats requests that reached this process / ran in a slot, this second.
        self._arrived = 0
        self._served = 0
        self._capacity = 0.0
        self._calm = 0
        self.backlog = (0, 0.0)
        self._backlog_at = float("-inf")
        self.pace_s = 0.0
        self.deadline_ms = float(deadline_ms)
        # connection → the least (server clock − report clock) seen, ms.
        self._offsets: dict[bytes, float] = {}
        self._offsets_until = time.monotonic() + _OFFSETS_SECONDS
        self._timed = 0
        self._late = 0
        self.late_mode = False

    # ------------------------------------------------------------ sampling

    def keep(self, connection_key: bytes) -> bool:
        """Whether to keep this sample of the connection while sampling:
        two in a row out of every ``2 × factor``, from the first one seen.
        Two in a row, because a rate needs the report of the interval
        before (api.quality.metrics computes none over a longer gap)."""
        factor = self.factor
        if factor <= 1:
            return True
        seen = self._seen.get(connection_key, 0)
        if len(self._seen) >= _SEEN_LIMIT:
            self._seen.clear()
        self._seen[connection_key] = seen + 1
        return seen % (2 * factor) < 2

    # ----------------------------------------------------------- admission

    def admit(self) -> bool:
        """Wait for a slot: False when the queue is full or the wait passed
        the deadline (the caller answers at once); True means the caller
        holds a slot and must :meth:`release` it."""
        if self._slots.acquire(blocking=False):
            return True
        with self._lock:
            if self._waiting >= self.queue:
                self._refused += 1
                return False
            self._waiting += 1
        try:
            admitted = self._slots.acquire(timeout=self.wait_s)
        finally:
            with self._lock:
                self._waiting -= 1
        if not admitted:
            self._refused += 1
            return False
        return True

    def release(self) -> None:
        if self.pace_s:
            # Hold the slot: the CPU this process does not take goes to the
            # ingest worker.
            time.sleep(self.pace_s)
        self._served += 1
        self._slots.release()

    # ------------------------------------------------------------ deadline

    def late(self, connection_key: bytes, report_ms: float, now_ms: float) -> bool:
        """Whether to answer this sample at once rather than work on it: it
        reached this process more than the deadline after it was sent, and
        so did many of this process's requests in the last second (the
        process is behind: its requests wait in the server's queue, and
        the SDK gives up on them at 10 s). When it was sent is read on the
        connection's own clock: the report's ``timestamp`` (the browser's
        getStats time, ``report_ms``) less the least difference to this
        server's clock seen for the connection, so a browser's clock may
        be set to anything; the caller has taken a retry's ``delta`` (the
        time the SDK held it) off ``now_ms``. The references are forgotten
        every ten minutes while the process is not behind (a clock set
        back starts again)."""
        offset = now_ms - report_ms
        best = self._offsets.get(connection_key)
        if best is None or offset < best:
            if len(self._offsets) >= _SEEN_LIMIT:
                self._offsets.clear()
            self._offsets[connection_key] = offset
            return False
        self._timed += 1
        if offset - best <= self.deadline_ms:
            return False
        self._late += 1
        return self.late_mode

    # ------------------------------------------------------------- backlog

    def backlog_seen(self, length: int, age_s: float) -> None:
        """The queued sink's stream, as the last forwarded batch found it."""
        self.backlog = (length, age_s)
        self._backlog_at = time.monotonic()

    def backlog_over(self, now: float) -> bool:
        if now - self._backlog_at > _BACKLOG_FRESH_SECONDS:
            return False
        length, age_s = self.backlog
        return (0 < self.backlog_max <= length) or (0 < self.backlog_max_age_s <= age_s)

    # ---------------------------------------------------------- the factor

    def _factor_needed(self) -> int:
        """The factor that brings what is kept down to what the slots can
        serve (with a tenth to spare): ``capacity`` is the most they served
        in a second lately, not the last second's, which a high factor
        itself makes small."""
        if not self._capacity:
            return self.factor * 2
        return max(1, math.ceil(self._arrived / (0.9 * self._capacity)))

    def tick(self) -> None:
        """Close the window once a second: raise or lower the factor."""
        now = time.monotonic()
        if now >= self._window_end:
            self._roll(now)

    def _roll(self, now: float) -> None:
        with self._lock:
            if now < self._window_end:
                return
            # A refusal now and then is a burst; more than a few in a
            # hundred is a load the slots cannot take.
            # (A long wait alone is no sign: with many threads taking turns
            # at the GIL, answering refusals makes every request slower.)
            pressure = self._refused > max(2, self._arrived // 50)
            self.late_mode = self._late > max(_LATE_MIN, self._timed * _LATE_SHARE)
            self._timed = self._late = 0
            if not self.late_mode and now >= self._offsets_until:
                self._offsets.clear()
                self._offsets_until = now + _OFFSETS_SECONDS
            if self.backlog_over(now):
                self.pace_s = min(_PACE_MAX_S, max(_PACE_FIRST_S, self.pace_s * 2))
            elif self.pace_s:
                self.pace_s = self.pace_s / 2 if self.pace_s > _PACE_FIRST_S else 0.0
            # The most the slots served in a second, forgotten slowly (a
            # tenth a second) so that a slower machine is noticed.
            self._capacity = max(self._capacity * 0.9, float(self._served))
            before = self.factor
            if pressure:
                self._calm = 0
                self.factor = min(self.max_factor, self._factor_needed())
            else:
                self._calm += 1
                if self.factor > 1 and self._calm >= 2:
                    self._calm = 0
                    self.factor -= 1
            if self.factor == 1 and before > 1:
                self._seen.clear()
                self._refused = self._arrived = self._served = 0
            self._window_end = now + WINDOW_SECONDS
        if self.factor != before:
            metrics.INGEST_SHED_FACTOR.set(self.factor)
        metrics.INGEST_PACE.set(self.pace_s)


@functools.cache
def controller() -> Controller:
    config = settings.CONFIG
    slots = config.ingest_stats_concurrency or (1 if config.ingest_sink == "queued" else 2)
    return Controller(
        slots=slots,
        queue=config.ingest_stats_queue,
        wait_s=config.ingest_stats_wait_ms / 1000,
        max_factor=config.ingest_shed_max_factor,
        backlog_max=config.ingest_backlog_max,
        backlog_max_age_s=config.ingest_backlog_max_age_seconds,
        deadline_ms=config.ingest_stats_deadline_ms,
    )


@receiver(setting_changed)
def _settings_changed(setting: str, **kwargs) -> None:
    if setting == "CONFIG":
        controller.cache_clear()


def stats_interval(interval_ms: int) -> int:
    """The getStatsInterval for a new session while this process samples."""
    return interval_ms * controller().factor


# ------------------------------------------------------------ the WSGI lane


def _connection_key(body: bytes) -> bytes:
    """The report's ``connectionId`` value, found without parsing the body
    (the SDK puts it after the 8 KB of stats)."""
    at = body.rfind(_CONNECTION_KEY)
    if at < 0:
        return b""
    start = body.find(b'"', at + len(_CONNECTION_KEY))
    end = body.find(b'"', start + 1)
    return body[start + 1 : end] if 0 <= start < end else b""


def _number_after(body: bytes, at: int, key: bytes) -> float | None:
    """The JSON number after ``key`` found at ``at`` (None if there is none)."""
    if at < 0:
        return None
    start = at + len(key)
    end = start
    while end < len(body) and body[end] in b" 0123456789.eE+-":
        end += 1
        if end - start > 32:
            return None
    try:
        value = float(body[start:end])
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _body_peek(environ: dict) -> bytes:
    """The request body, read and put back for the lane (b"" if it has no
    length the lane would read)."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return b""
    if not 0 < length <= settings.CONFIG.max_body_bytes:
        return b""
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _is_late(gate: Controller, body: bytes) -> bool:
    """:meth:`Controller.late` for a stats body: its report's first
    ``timestamp``, and the ``delta`` of a retry (the SDK puts it after the
    report), found without parsing the body."""
    report_ms = _number_after(body, body.find(_TIMESTAMP_KEY), _TIMESTAMP_KEY)
    if report_ms is None:
        return False
    held_ms = _number_after(body, body.rfind(_DELTA_KEY), _DELTA_KEY) or 0.0
    return gate.late(_connection_key(body), report_ms, time.time() * 1000 - held_ms)


def _shed(environ: dict, start_response: Callable, reason: str) -> Iterable[bytes]:
    headers = [
        ("Content-Type", "application/json; charset=utf-8"),
        ("Content-Length", str(len(_SHED_BODY))),
    ]
    # The SDK's page must be able to read the answer, or the browser turns it
    # into a network error, which the SDK retries.
    origin = environ.get("HTTP_ORIGIN")
    if origin:
        headers += [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
    start_response(_SHED_STATUS, headers)
    metrics.labelled(metrics.STATS_REFUSED, reason).inc()
    return [_SHED_BODY]


def stats_lane(app: Callable, environ: dict, start_response: Callable) -> Iterable[bytes]:
    """``app`` (the stats lane) behind the deadline, the sampling and the
    bounded queue; while the last two are off (the default), behind the
    deadline and paced on the backlog."""
    gate = controller()
    gate.tick()
    body = _body_peek(environ) if gate.deadline_ms or gate.factor > 1 else b""
    if gate.deadline_ms and body and _is_late(gate, body):
        return _shed(environ, start_response, "late")
    if gate.wait_s <= 0:
        # Admission and sampling off (the default): the deadline and the
        # backlog's pace only.
        answer = app(environ, start_response)
        if gate.pace_s:
            time.sleep(gate.pace_s)
        return answer
    gate._arrived += 1
    if gate.factor > 1 and body and not gate.keep(_connection_key(body)):
        return _shed(environ, start_response, "sampled")
    if not gate.admit():
        return _shed(environ, start_response, "overloaded")
    try:
        return app(environ, start_response)
    finally:
        gate.release()
