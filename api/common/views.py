from __future__ import annotations

import functools
import hmac
import ipaddress
import logging

import orjson
from django.conf import settings
from django.core.exceptions import DisallowedHost, RequestDataTooBig
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse

from api.common import metrics
from api.common.client_ip import client_ip
from api.common.errors import ApiError

logger = logging.getLogger("api.ops")

# The operations endpoints. They skip the full middleware stack (the lean
# lane of api.ingest.handler): no session, and no ALLOWED_HOSTS check, so a
# container's health check or a scraper may call them by IP address.
OPS_PATHS = frozenset({"/health", "/ready", "/metrics"})


def _json(value: object, status: int = 200) -> HttpResponse:
    return HttpResponse(
        orjson.dumps(value), status=status, content_type="application/json; charset=utf-8"
    )


def error_response(error: ApiError) -> HttpResponse:
    """The catalogue's JSON body of ``error``, with its status (and
    ``Retry-After`` when it says when to come back). Every lane answers
    errors through this."""
    response = _json(error.body(), status=error.status)
    for name, value in error.headers().items():
        response[name] = value
    return response


def _error(code: str, message: str | None = None) -> HttpResponse:
    return error_response(ApiError(code, message))


def require_safe(view):
    """GET and HEAD only; anything else gets the catalogue's 405 body."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            response = _error("method_not_allowed")
            response["Allow"] = "GET, HEAD"
            return response
        return view(request, *args, **kwargs)

    return wrapped


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error("not_found")


def server_error(request: HttpRequest) -> HttpResponse:
    return _error("server_error")


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's answer to a ``SuspiciousOperation`` raised outside a view
    (a Host not in ``ALLOWED_HOSTS``, a body over ``MAX_BODY_BYTES`` read
    by a middleware, too many fields): the catalogue's JSON, never HTML."""
    if isinstance(exception, RequestDataTooBig):
        return _error("body_too_large")
    if isinstance(exception, DisallowedHost):
        return _error("invalid_parameters", "The Host header names no host this server serves.")
    return _error("invalid_parameters")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error("permission_denied")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """``CSRF_FAILURE_VIEW``: a cross-site form post (the admin's login, the
    API's) is refused with the catalogue's body."""
    return _error("csrf_failed")


@require_safe
def health(request: HttpRequest) -> HttpResponse:
    """Liveness, and whether the process can reach its database: 503 with
    the catalogue's body while it cannot (the SDK routes and the query API
    answer 503 then too). Migrations and Redis are /ready's business."""
    database = _database_check(DEFAULT_DB_ALIAS)
    if database != "ok":
        error = ApiError("service_unavailable", f"Database {database}.")
        return _json({**error.body(), "status": "unavailable"}, status=error.status)
    return HttpResponse(b'{"status":"ok"}', content_type="application/json")


# Once applied, migrations stay applied for the life of a process: the
# migration graph (every migration file) is loaded until they are.
_migrated: set[str] = set()


def _database_check(alias: str) -> str:
    connection = connections[alias]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        # The connection may be broken half-way: the next request reconnects.
        connection.close_if_unusable_or_obsolete()
        return f"unavailable ({exc.__class__.__name__})"
    return "ok"


def _migrations_check(alias: str) -> str:
    if alias in _migrated:
        return "ok"
    executor = MigrationExecutor(connections[alias])
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending:
        return f"{len(pending)} pending"
    _migrated.add(alias)
    return "ok"


@functools.cache
def _redis():
    import redis

    return redis.Redis.from_url(
        settings.CONFIG.redis_url,
        socket_timeout=1,
        socket_connect_timeout=1,
        health_check_interval=0,
    )


def _redis_check() -> str:
    try:
        _redis().ping()
    except Exception as exc:
        return f"unavailable ({exc.__class__.__name__})"
    return "ok"


@require_safe
def ready(request: HttpRequest) -> HttpResponse:
    """Readiness: the database and Redis (when configured) answer and every
    migration is applied. 503 with the error body and the failing checks
    otherwise, so a load balancer sends no traffic here yet."""
    checks = {"database": _database_check(DEFAULT_DB_ALIAS)}
    if checks["database"] == "ok":
        checks["migrations"] = _migrations_check(DEFAULT_DB_ALIAS)
    if settings.CONFIG.redis_url:
        checks["redis"] = _redis_check()
    if all(value == "ok" for value in checks.values()):
        return _json({"status": "ok", "checks": checks})
    logger.warning("not ready: %s", checks)
    error = ApiError(
        "service_unavailable",
        "Not ready: "
        + ", ".join(f"{name} {value}" for name, value in checks.items() if value != "ok"),
    )
    return _json({**error.body(), "status": "unavailable", "checks": checks}, status=error.status)


@functools.cache
def _allowed_networks(entries: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _metrics_allowed(request: HttpRequest) -> bool:
    token = settings.CONFIG.metrics_token
    if token:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode(), token.encode()
        ):
            return True
    networks = _allowed_networks(tuple(settings.CONFIG.metrics_allowed_ips))
    address = client_ip(request)
    if networks and address:
        ip = ipaddress.ip_address(address)
        return any(ip in network for network in networks)
    return False


@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format; readable with ``Authorization: Bearer
    <METRICS_TOKEN>`` or from an address in ``METRICS_ALLOWED_IPS``."""
    if not _metrics_allowed(request):
        return _error(
            "permission_denied",
            "Send 'Authorization: Bearer <METRICS_TOKEN>' or scrape from an address "
            "in METRICS_ALLOWED_IPS.",
        )
    return HttpResponse(
        metrics.exposition(), content_type="text/plain; version=0.0.4; charset=utf-8"
    )
