"""What every request is checked for before any view runs, in both lanes
(the full stack and the SDK's lean one, api.ingest.handler): a Host this
server serves, a body no larger than ``MAX_BODY_BYTES`` (by its declared
length; the routes of ``settings.LARGE_BODY_ROUTES`` — uploads such as a
dump import — have their own larger bound, and check the file themselves),
and a query string without NUL characters (PostgreSQL refuses
them in text, so a filter holding one would fail the query). Each failure
is the catalogue's JSON body, also with ``DEBUG`` on, where Django would
answer its HTML debug page.

On the way out, a 404 that is not JSON (the URL resolver's own, for
instance a malformed UUID in a path) becomes the catalogue's ``not_found``
outside the admin, whose pages are HTML.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse

from api.common.errors import ApiError
from api.common.views import OPS_PATHS, error_response

_NUL = "\x00"


def query_string_problem(request: HttpRequest) -> ApiError | None:
    """The error of a query string with a NUL in a parameter's name or
    value, naming that parameter."""
    if "%00" not in request.META.get("QUERY_STRING", "") and _NUL not in request.META.get(
        "QUERY_STRING", ""
    ):
        return None
    for name, values in request.GET.lists():
        if _NUL in name or any(_NUL in value for value in values):
            shown = name.replace(_NUL, "\\u0000")
            return ApiError("invalid_parameters", f"'{shown}' must not contain NUL characters.")
    return None


class RequestGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.max_body = settings.CONFIG.max_body_bytes
        self.large_routes = [
            (re.compile(pattern), int(limit))
            for pattern, limit in getattr(settings, "LARGE_BODY_ROUTES", ())
        ]
        self.admin_prefix = "/admin/"

    def __call__(self, request: HttpRequest) -> HttpResponse:
        problem = self._problem(request)
        if problem is not None:
            return error_response(problem)
        response = self.get_response(request)
        if (
            response.status_code == 404
            and not response.get("Content-Type", "").startswith("application/json")
            and not request.path_info.startswith(self.admin_prefix)
        ):
            return error_response(ApiError("not_found"))
        return response

    def _body_limit(self, path: str) -> int:
        for pattern, limit in self.large_routes:
            if pattern.match(path):
                return limit
        return self.max_body

    def _problem(self, request: HttpRequest) -> ApiError | None:
        # Probes (/health, /ready, /metrics) may call by IP address.
        if request.path_info not in OPS_PATHS:
            try:
                request.get_host()
            except DisallowedHost:
                return ApiError(
                    "invalid_parameters", "The Host header names no host this server serves."
                )
        length = request.META.get("CONTENT_LENGTH")
        if length and length.isdigit() and int(length) > self._body_limit(request.path_info):
            return ApiError("body_too_large")
        return query_string_problem(request)
