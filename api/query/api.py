"""The dashboard/query API (SPEC §2): one django-ninja API, mounted under
``/v1/`` and without prefix by ``api.query_urls``.

Every operation requires a user (``api.query.auth``) and every error is
the catalogue's JSON body, including the ones django-ninja raises itself
(validation, unparsable body, missing credentials).
"""

from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from api.common.errors import ApiError
from api.interop.routers import exports as interop_exports
from api.interop.routers import imports as interop_imports
from api.interop.routers import webhooks as interop_webhooks
from api.query.auth import AUTH
from api.query.guards import CheckedParser, operation_guard
from api.query.responses import JsonRenderer, error
from api.query.routers import (
    apps,
    auth,
    calls,
    events,
    organizations,
    quality,
    search,
    summaries,
)

logger = logging.getLogger("api.query")

DESCRIPTION = """\
The private API behind the dashboard: organizations, apps, and the calls
the SDK recorded.

**Authentication.** Log in with `POST /v1/auth/login` (a session cookie;
unsafe methods then need the `X-CSRFToken` header), or create a personal
token with `POST /v1/auth/tokens` and send `Authorization: Bearer <token>`.
Everything is limited to the caller's organizations; anything else is a 404.

**Lists** answer `{"data": [...]}`; with `limit` and/or `offset` they
answer one page, `{"results": [...], "count": N}` (limit 1-200, default 50).
Event lists are always paged (`{"results", "next"}`, see their operations).
A query parameter an operation does not take is refused (400).
Times are ISO 8601 UTC. Errors are `{"error_code", "message"}`.
"""

api = NinjaAPI(
    title="peermetrics query API",
    version="1",
    description=DESCRIPTION,
    auth=AUTH,
    urls_namespace="query",
    docs_url="/docs",
    openapi_url="/openapi.json",
    renderer=JsonRenderer(),
    parser=CheckedParser(),
)
# Rate limits and unknown query parameters, before authentication.
api.add_decorator(operation_guard, mode="view")

# Summary routes come before the routers whose paths take an id, only for
# the order of the documentation; the UUID converter keeps them apart.
for router in (
    auth.router,
    organizations.router,
    apps.router,
    summaries.router,
    calls.router,
    quality.router,
    events.router,
    search.router,
    interop_imports.router,
    interop_exports.router,
    interop_webhooks.router,
):
    api.add_router("", router)


def _validation_message(exc: ValidationError) -> str:
    names = []
    for item in exc.errors:
        location = [
            str(part) for part in item.get("loc", ()) if part not in {"query", "body", "path"}
        ]
        name = ".".join(location[-1:]) or "request"
        if name not in names:
            names.append(name)
    return "Some supplied parameters are not valid: " + ", ".join(names) + "."


@api.exception_handler(ApiError)
def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    return error(exc)


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return error(ApiError("invalid_parameters", _validation_message(exc)))


@api.exception_handler(AuthenticationError)
def _anonymous(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error(ApiError("not_authenticated"))


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    # django-ninja raises these for bodies it cannot parse (400) and for
    # its own checks; keep the status, speak the catalogue. A body our
    # parser (api.query.guards) refused carries the reason as its cause.
    if isinstance(exc.__cause__, ApiError):
        return error(exc.__cause__)
    if exc.status_code == 400:
        return error(ApiError("invalid_json"))
    if exc.status_code == 403:
        return error(ApiError("permission_denied"))
    if exc.status_code == 429:
        return error(ApiError("rate_limited"))
    return error(ApiError("invalid_parameters", str(exc), status=exc.status_code))


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error(ApiError("not_found"))


@api.exception_handler(RequestDataTooBig)
def _too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return error(ApiError("body_too_large"))


@api.exception_handler(OperationalError)
@api.exception_handler(InterfaceError)
def _database_away(request: HttpRequest, exc: Exception) -> HttpResponse:
    # The database is away (restart, failover, too many connections).
    logger.warning(
        "database unavailable on %s %s: %s",
        request.method,
        request.path_info,
        exc.__class__.__name__,
    )
    return error(ApiError("service_unavailable", retry_after=5))


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("unhandled error on %s %s", request.method, request.path_info)
    return error(ApiError("server_error"))
