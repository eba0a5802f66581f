"""Per-app budgets: stats samples per minute, and sessions per day.

Refusing a stats sample backfires: the SDK sends a refused request again
with a growing ``delta``, so a limit would multiply the traffic it meant to
cut. An app over its stats budget (``STATS_BUDGET_PER_MINUTE``) therefore
keeps every sample accepted and stored, and its *new* sessions are told a
longer ``getStatsInterval`` by ``/v1/initialize`` (the budget's excess,
at most ``MAX_SLOWDOWN`` times the app's interval), which brings the
rate down as pages are reloaded or joined.

The hot path counts a sample with a dictionary increment; each process
adds its counts to the shared cache (Redis when configured) at most once a
second, so every process's ``/initialize`` sees the app's whole rate.

Sessions per day (``APP_SESSIONS_PER_DAY``) are the app's quota:
``/v1/initialize`` answers the seed's ``quota_exceeded`` once it is used up
(the SDK gives up on that error rather than retrying).
"""

from __future__ import annotations

import math
import threading
import time
import uuid

from django.conf import settings
from django.core.cache import cache

from api.common import time as clock
from api.common.errors import ApiError

MAX_SLOWDOWN = 8
FLUSH_SECONDS = 1.0

_lock = threading.Lock()
_counts: dict[uuid.UUID, int] = {}
_flushed = {"at": 0.0}


def _minute_key(app_id: uuid.UUID, minute: int) -> str:
    return f"pm:stats-budget:{app_id.hex}:{minute}"


def _minute() -> int:
    return int(time.time() // 60)


def stats_counted(app_id: uuid.UUID) -> None:
    """One accepted sample of the app (hot path: no I/O but the flush,
    once a second per process)."""
    if not settings.CONFIG.stats_budget_per_minute:
        return
    with _lock:
        _counts[app_id] = _counts.get(app_id, 0) + 1
        now = time.monotonic()
        if now - _flushed["at"] < FLUSH_SECONDS:
            return
        _flushed["at"] = now
        counts = dict(_counts)
        _counts.clear()
    stats_counts_flush(counts)


def stats_counts_flush(counts: dict[uuid.UUID, int] | None = None) -> None:
    """Add this process's counts to the shared cache (a cache that does not
    answer loses them: the budget is a brake, not a bill)."""
    if counts is None:
        with _lock:
            counts = dict(_counts)
            _counts.clear()
    minute = _minute()
    for app_id, count in counts.items():
        key = _minute_key(app_id, minute)
        try:
            cache.add(key, 0, timeout=180)
            cache.incr(key, count)
        except ValueError:
            cache.set(key, count, timeout=180)


def stats_interval_for(*, app_id: uuid.UUID, interval_ms: int) -> int:
    """The ``getStatsInterval`` a new session of the app is told: the
    app's, stretched by how far over its budget the app was in the last
    whole minute (or is in this one)."""
    budget = settings.CONFIG.stats_budget_per_minute
    if not budget:
        return interval_ms
    stats_counts_flush()
    minute = _minute()
    seen = max(
        cache.get(_minute_key(app_id, minute), 0) or 0,
        cache.get(_minute_key(app_id, minute - 1), 0) or 0,
    )
    if seen <= budget:
        return interval_ms
    slowdown = min(MAX_SLOWDOWN, math.ceil(seen / budget))
    return min(interval_ms * slowdown, 600_000)


def session_quota_use(*, app_id: uuid.UUID) -> None:
    """Count a new session of the app against its daily quota; raises
    ``quota_exceeded`` once the day's quota is used up."""
    quota = settings.CONFIG.app_sessions_per_day
    if not quota:
        return
    key = f"pm:sessions:{app_id.hex}:{clock.now().date().isoformat()}"
    try:
        cache.add(key, 0, timeout=2 * 86400)
        used = cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=2 * 86400)
        used = 1
    if used > quota:
        raise ApiError("quota_exceeded", f"The app's quota of {quota} sessions a day is used up.")
