"""URLs of the dashboard/query API: under ``/v1/`` and, as the seed
README's examples use them (``GET /sessions?...``), without prefix.

``api.urls`` includes these after the SDK routes. The SDK routes that also
have a query side (``/v1/sessions``, ``/v1/stats``, ...) take their SDK
methods themselves and resolve every other method against this module
(``api.ingest.views._delegate``), so it must stay importable on its own.
"""

from __future__ import annotations

import functools

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, include, path

from api.common.errors import ApiError
from api.query.api import api
from api.query.responses import error

# The documentation and the API root live under /v1/ only.
_V1_ONLY = {"openapi-json", "openapi-view", "api-root"}


def _json_405(view):
    """django-ninja answers a method no operation takes with a bare 405;
    ours carries the catalogue's body and the ``Allow`` header."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if response.status_code == 405 and not response.get("Content-Type", "").startswith(
            "application/json"
        ):
            answer = error(ApiError("method_not_allowed"))
            if response.has_header("Allow"):
                answer["Allow"] = response["Allow"]
            return answer
        return response

    wrapped.csrf_exempt = True
    return wrapped


def _patterns(*, v1: bool) -> list:
    patterns, _, _ = api.urls
    result = []
    for pattern in patterns:
        assert isinstance(pattern, URLPattern)
        if not v1 and pattern.name in _V1_ONLY:
            continue
        result.append(
            URLPattern(
                pattern.pattern, _json_405(pattern.callback), pattern.default_args, pattern.name
            )
        )
    return result


urlpatterns = [
    path("v1/", include((_patterns(v1=True), "ninja"), namespace=api.urls_namespace)),
    path("", include((_patterns(v1=False), "ninja"), namespace="query-root")),
]
