"""Request rate limits: fixed windows counted in the default cache (Redis
when configured, so every process shares them; per process without),
through django-ratelimit. A request over a limit is refused with
``rate_limited`` (429) and ``Retry-After``, before any work that costs
(a password hash, a token lookup, a database write).

Which limits there are and their rates (``RATE_LIMIT_*``, ``N/period``,
empty for none) are in api/env.py and docs/security.md. ``/v1/stats`` has
no limit here: refusing a sample makes the SDK resend it, so an app over
its budget is slowed down instead (api.ingest.budget).

A cache that does not answer lets requests through (``RATELIMIT_FAIL_OPEN``):
an outage of Redis must not take the API down with it.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage

from api.common.client_ip import client_ip
from api.common.errors import ApiError


def limit_check(request: HttpRequest, *, group: str, rate: str | None, value: str) -> None:
    """Count one request of ``group`` for ``value`` (an address, an app);
    raises ``rate_limited`` with the seconds left in the window when the
    count is over ``rate``. No rate: no limit."""
    if not rate:
        return
    usage = get_usage(
        request, group=group, key=lambda group, request: value, rate=rate, increment=True
    )
    if usage is not None and usage["should_limit"]:
        raise ApiError("rate_limited", retry_after=max(1, usage["time_left"]))


def address_of(request: HttpRequest) -> str:
    return client_ip(request) or "unknown"


def initialize_limit_check(request: HttpRequest, *, api_key: object) -> None:
    """``/v1/initialize``: per client address, then per app (its api key)."""
    config = settings.CONFIG
    limit_check(
        request, group="initialize-ip", rate=config.rate_limit_initialize, value=address_of(request)
    )
    if isinstance(api_key, str):
        limit_check(
            request, group="initialize-app", rate=config.rate_limit_initialize_app, value=api_key
        )


def login_limit_check(request: HttpRequest) -> None:
    """Login attempts per client address (whatever the username: spraying
    one password over many accounts is counted here)."""
    limit_check(
        request, group="login-ip", rate=settings.CONFIG.rate_limit_login, value=address_of(request)
    )


def query_limit_check(request: HttpRequest) -> None:
    """Every query-API request, per client address."""
    limit_check(
        request, group="query-ip", rate=settings.CONFIG.rate_limit_query, value=address_of(request)
    )
