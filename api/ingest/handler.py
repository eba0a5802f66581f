"""A lean Django handler for the SDK's writes.

The SDK's requests carry their credentials in the body: they need no
sessions, users, CSRF tokens, messages or clickjacking headers, and running
that middleware costs about three times the work of the stats view itself
(measured in docs/benchmarks.md). POST/PUT/OPTIONS on an SDK path therefore
go through a handler whose only middleware is CORS and the request guard
(``ALLOWED_HOSTS``, body size: api.common.guards), after the request
context (id, logs, metrics); so do the operations endpoints (``/health``,
``/ready``, ``/metrics``), which must answer a probe that knows no host
name (the guard lets them by). ``POST /v1/stats`` takes a bare WSGI lane
in front of this handler (api.ingest.stats_wsgi), which hands it what is not
the common case. Every other request (admin, query API, GET on an SDK path)
goes through the full stack.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.core.handlers.wsgi import WSGIHandler
from django.test.utils import override_settings
from django.urls import ResolverMatch, resolve

from api.common.views import OPS_PATHS
from api.ingest import overload
from api.ingest.stats_wsgi import StatsWsgi
from api.ingest.urls import SDK_PATHS

SDK_MIDDLEWARE = [
    "api.common.middleware.RequestContextMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "api.common.guards.RequestGuardMiddleware",
]
_SDK_METHODS = frozenset({"POST", "PUT", "OPTIONS"})
_OPS_METHODS = frozenset({"GET", "HEAD"})
_STATS_PATHS = frozenset({"/v1/stats", "/stats"})


class SdkHandler(WSGIHandler):
    def __init__(self) -> None:
        super().__init__()
        # path → its match: the lane serves a handful of fixed paths (is_lean),
        # and resolving one tried the project's patterns in order each time.
        self._matches: dict[str, ResolverMatch] = {}

    def resolve_request(self, request) -> ResolverMatch:
        match = self._matches.get(request.path_info)
        if match is None:
            match = self._matches[request.path_info] = super().resolve_request(request)
        request.resolver_match = match
        return match

    def load_middleware(self, is_async: bool = False) -> None:
        # Django builds the middleware chain from settings.MIDDLEWARE once,
        # here, at start-up; this handler builds it from the SDK's list.
        with override_settings(MIDDLEWARE=SDK_MIDDLEWARE):
            super().load_middleware(is_async)

    def get_response(self, request):
        response = super().get_response(request)
        # CommonMiddleware is not in this chain; without a length the server
        # would fall back to chunked encoding for these small answers.
        if not response.streaming and not response.has_header("Content-Length"):
            response.headers["Content-Length"] = str(len(response.content))
        return response


def is_lean(method: str, path: str) -> bool:
    if method in _OPS_METHODS:
        return path in OPS_PATHS
    if method not in _SDK_METHODS:
        return False
    if path.startswith("/v1/"):
        path = path[3:]
    return path in SDK_PATHS


def with_sdk_lane(full: WSGIHandler) -> Callable:
    sdk = SdkHandler()
    # POST /v1/stats: the bare lane, which hands what it does not serve to sdk.
    stats = StatsWsgi(sdk, {path: resolve(path).route for path in _STATS_PATHS})

    def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "")
        path = environ.get("PATH_INFO", "")
        if is_lean(method, path):
            if method == "POST" and path in _STATS_PATHS:
                # Behind the bounded queue and the sampling (api.ingest.overload).
                return overload.stats_lane(stats, environ, start_response)
            return sdk(environ, start_response)
        return full(environ, start_response)

    return application
