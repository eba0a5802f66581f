from __future__ import annotations

import orjson
from django.db import connection
from django.http import HttpRequest, HttpResponse

from api.common.errors import ApiError


def _error(code: str) -> HttpResponse:
    error = ApiError(code)
    return HttpResponse(
        orjson.dumps(error.body()),
        status=error.status,
        content_type="application/json; charset=utf-8",
    )


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error("not_found")


def server_error(request: HttpRequest) -> HttpResponse:
    return _error("server_error")


def health(request: HttpRequest) -> HttpResponse:
    """Liveness and database reachability, for load balancers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse(b'{"status":"ok"}', content_type="application/json")
