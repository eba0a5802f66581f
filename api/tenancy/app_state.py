"""What every SDK request must know about its app: is it (and its
organization) still active, is it recording, what of the addresses and
names it sends may be kept. Hot path: kept per process.

Tokens outlive the state they were issued under: an app deleted, its
organization deleted, or its recording switched off must stop the sessions
already running at their next request, not only new ``/initialize`` calls.
Reading the app for every stats sample would add a statement to each, so
each process keeps the state of the apps it has seen, and a change is told:

* in the process that made it, at once (after its transaction commits);
* in every other process through a version number in the default cache
  (Redis when configured), which each process reads at most once per
  ``RECHECK_SECONDS``; a new version empties its map. Without Redis (one
  process, or SQLite) an entry is also re-read after ``MAX_AGE_SECONDS``.

Changes are told by the tenancy services that make them and, for saves
elsewhere (the admin), by the models' save and delete signals
(api.tenancy.apps).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from django.core.cache import cache
from django.db import transaction

from api.common.errors import ApiError

VERSION_KEY = "pm:app-state-version"
RECHECK_SECONDS = 1.0
MAX_AGE_SECONDS = 30.0


@dataclass(frozen=True)
class AppState:
    """An app as the SDK routes see it."""

    active: bool  # the app and its organization exist and are active
    recording: bool
    read_at: float
    address_privacy: str = "truncate"
    keep_user_names: bool = False


_states: dict[uuid.UUID, AppState] = {}


class _Seen:
    version: object = None
    checked_at = 0.0


_seen = _Seen()
_LIMIT = 100_000


def _version_check(now: float) -> None:
    _seen.checked_at = now
    version = cache.get(VERSION_KEY)
    if version != _seen.version:
        _seen.version = version
        _states.clear()


def _read(app_id: uuid.UUID, now: float) -> AppState:
    from api.tenancy.models import App

    row = (
        App.objects.filter(pk=app_id)
        .values_list(
            "is_active",
            "organization__is_active",
            "recording",
            "address_privacy",
            "keep_user_names",
        )
        .first()
    )
    if row is None:
        return AppState(active=False, recording=False, read_at=now)
    return AppState(
        active=bool(row[0] and row[1]),
        recording=bool(row[2]),
        read_at=now,
        address_privacy=row[3],
        keep_user_names=bool(row[4]),
    )


def app_state(app_id: uuid.UUID) -> AppState:
    """The app's state, from this process's map (read once per change)."""
    now = time.monotonic()
    if now - _seen.checked_at >= RECHECK_SECONDS:
        _version_check(now)
    state = _states.get(app_id)
    if state is None or now - state.read_at > MAX_AGE_SECONDS:
        state = _read(app_id, now)
        if len(_states) >= _LIMIT:
            _states.clear()
        _states[app_id] = state
    return state


def app_state_require(app_id: uuid.UUID) -> AppState:
    """Raises ``invalid_token`` when the app or its organization was
    deleted or deactivated (what the token speaks for is gone), and
    ``app_not_recording`` when its recording is off (both are errors the
    SDK does not retry)."""
    state = app_state(app_id)
    if not state.active:
        raise ApiError("invalid_token")
    if not state.recording:
        raise ApiError("app_not_recording")
    return state


def _forget() -> None:
    _states.clear()
    try:
        # incr() is atomic in Redis; add() starts the counter.
        if not cache.add(VERSION_KEY, 1, timeout=None):
            cache.incr(VERSION_KEY)
    except ValueError:
        cache.set(VERSION_KEY, 1, timeout=None)
    _seen.version = cache.get(VERSION_KEY)


def app_states_changed() -> None:
    """Some app's state may have changed: every process forgets what it
    knew, once the current transaction (if any) commits. This process
    forgets at once too (a request reading the old state before the commit
    reads it again after)."""
    _states.clear()
    transaction.on_commit(_forget)
