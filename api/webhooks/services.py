"""Webhook endpoints and the events they receive.

The request path pays nothing for webhooks it does not use: an event is
emitted only when something happened (an issue raised or resolved, a call
ended, never per stats sample), an app without endpoints is known from a
per-process cache (no SQL), and for an app with endpoints the event is
queued (one INSERT of the task library's) once the transaction that
produced it has committed. Everything else, the body, the deliveries and
the HTTP requests, happens in the task worker (``manage.py db_worker``):
:mod:`api.webhooks.tasks`.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.timezone import now

from api.common.errors import ApiError
from api.common.time import iso
from api.tenancy.models import App
from api.webhooks.models import EVENT_TYPES, TEST_EVENT, Endpoint
from api.webhooks.signing import secret_new
from api.webhooks.targets import url_check

# Seconds between attempts: exponential, then every 8 hours, ~24 h in all
# (settings.WEBHOOK_RETRY_SCHEDULE overrides it; the tests use a short one).
RETRY_SCHEDULE = (5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800, 28800)
TIMEOUT_SECONDS = 10.0
# How long a process trusts what it knows about an app's endpoints.
CACHE_SECONDS = 30.0


def retry_schedule() -> tuple[float, ...]:
    return tuple(getattr(settings, "WEBHOOK_RETRY_SCHEDULE", RETRY_SCHEDULE))


def timeout_seconds() -> float:
    return float(getattr(settings, "WEBHOOK_TIMEOUT_SECONDS", TIMEOUT_SECONDS))


# ------------------------------------------------------------------ cache

# app id → (has enabled endpoints, when it was read)
_known: dict[Any, tuple[bool, float]] = {}


def _has_endpoints(app_id: Any) -> bool:
    hit = _known.get(app_id)
    clock = time.monotonic()
    if hit is not None and clock - hit[1] < CACHE_SECONDS:
        return hit[0]
    found = Endpoint.objects.filter(app_id=app_id, enabled=True).exists()
    if len(_known) > 50_000:
        _known.clear()
    _known[app_id] = (found, clock)
    return found


def cache_forget(app_id: Any = None) -> None:
    if app_id is None:
        _known.clear()
    else:
        _known.pop(app_id, None)


# ------------------------------------------------------------------ muting

_muted: contextvars.ContextVar[bool] = contextvars.ContextVar("webhooks_muted", default=False)


@contextlib.contextmanager
def muted() -> Iterator[None]:
    """No events while this runs (an imported dump is history, not news)."""
    token = _muted.set(True)
    try:
        yield
    finally:
        _muted.reset(token)


# ------------------------------------------------------------------ events


def event_emit(*, app_id: Any, type: str, data: dict[str, Any], at: datetime | None = None) -> None:
    """Queue an event of the app for its endpoints, after commit."""
    if _muted.get() or not _has_endpoints(app_id):
        return
    from api.webhooks import tasks

    app, moment = str(app_id), iso(at or now()) or ""
    transaction.on_commit(lambda: tasks.dispatch.enqueue(app, type, data, moment))


# --------------------------------------------------------------- endpoints


def _events_check(events: list[str] | None) -> list[str]:
    if events is None:
        return list(EVENT_TYPES)
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown or not events:
        raise ApiError(
            "invalid_parameters",
            "'events' must name some of: " + ", ".join(EVENT_TYPES) + ".",
        )
    return list(dict.fromkeys(events))


def endpoint_create(
    *, app: App, url: str, events: list[str] | None = None, description: str = ""
) -> Endpoint:
    """A new endpoint; its ``secret`` is on the returned object (show it
    once)."""
    endpoint = Endpoint.objects.create(
        app=app,
        url=url_check(url),
        events=_events_check(events),
        description=description[:200],
        secret=secret_new(),
    )
    cache_forget(app.pk)
    return endpoint


def endpoint_update(
    *,
    endpoint: Endpoint,
    url: str | None = None,
    events: list[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
) -> Endpoint:
    fields: list[str] = []
    if url is not None:
        endpoint.url = url_check(url)
        fields.append("url")
    if events is not None:
        endpoint.events = _events_check(events)
        fields.append("events")
    if description is not None:
        endpoint.description = description[:200]
        fields.append("description")
    if enabled is not None:
        endpoint.enabled = enabled
        if enabled:
            endpoint.disabled_reason, endpoint.disabled_at = "", None
        fields += ["enabled", "disabled_reason", "disabled_at"]
    if fields:
        endpoint.save(update_fields=fields)
        cache_forget(endpoint.app_id)
    return endpoint


def endpoint_delete(*, endpoint: Endpoint) -> None:
    app_id = endpoint.app_id
    endpoint.delete()
    cache_forget(app_id)


def secret_rotate(*, endpoint: Endpoint) -> Endpoint:
    """A new secret; the old one signs nothing from now on."""
    endpoint.secret = secret_new()
    endpoint.save(update_fields=["secret"])
    return endpoint


def endpoint_disable(*, endpoint: Endpoint, reason: str) -> None:
    Endpoint.objects.filter(pk=endpoint.pk).update(
        enabled=False, disabled_reason=reason[:500], disabled_at=now()
    )
    cache_forget(endpoint.app_id)


def test_event_send(*, endpoint: Endpoint) -> None:
    """Queue a ``webhook.test`` event for this endpoint alone (even
    disabled: it is how one checks a receiver that was fixed)."""
    from api.webhooks import tasks

    data = {"endpoint": str(endpoint.pk), "message": "A test event from peermetrics."}
    target, moment = str(endpoint.pk), iso(now()) or ""
    transaction.on_commit(lambda: tasks.deliver_new.enqueue(target, TEST_EVENT, data, moment))
