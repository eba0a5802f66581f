"""The outermost middleware of both request lanes (the full Django stack
and the SDK's lean one, api.ingest.handler): gives each request an id,
makes it the context of the log records written while it is served, and
counts and times it (api.common.metrics).

Its cost is part of every ``/v1/stats`` request: a clock read at each end,
a counter for the id, one context variable, one counter and one histogram
update (bench/request_context_cost.py; docs/benchmarks.md). The access log line is written only with
``LOG_REQUESTS`` on.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import secrets
from collections.abc import Callable
from time import perf_counter

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from api.common.logs import context_begin, route_of
from api.common.metrics import request_observed

access_logger = logging.getLogger("api.access")

# What a proxy's own request id may look like (nginx's $request_id is 32 hex).
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class _RequestIds:
    """A random prefix per process, then a counter: as unique as random
    bytes per request (the prefix tells the processes apart), for a third
    of their cost."""

    def __init__(self) -> None:
        self.pid: int | None = None

    def next(self) -> str:
        pid = os.getpid()
        if pid != self.pid:  # first use, or a worker forked since
            self.pid, self.prefix, self.counter = pid, secrets.token_hex(5), itertools.count()
        return f"{self.prefix}{next(self.counter):06x}"


_request_ids = _RequestIds()


def request_id_of(incoming: str, *, trusted: bool) -> str:
    """The id of a request: the one a trusted proxy sent in
    (``X-Request-ID``), or a new one. Also used by the bare stats lane
    (api.ingest.stats_wsgi)."""
    if trusted and _REQUEST_ID_RE.match(incoming):
        return incoming
    return _request_ids.next()


def access_log(method: str, route: str, status: int, seconds: float) -> None:
    """The access log line of a request (with ``LOG_REQUESTS`` on)."""
    access_logger.info(
        "%s %s %d %.1f ms",
        method,
        route,
        status,
        seconds * 1000,
        extra={"method": method, "status": status, "duration_ms": round(seconds * 1000, 2)},
    )


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.log_requests = settings.CONFIG.log_requests
        # A request id sent in by a proxy we trust is kept, so its log and
        # ours can be joined; from the open internet it is ignored.
        self.trust_incoming_id = settings.CONFIG.trusted_proxy_hops > 0
        self.static_prefix = settings.STATIC_URL

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = perf_counter()
        request_id = request_id_of(
            request.META.get("HTTP_X_REQUEST_ID", ""), trusted=self.trust_incoming_id
        )
        # The context outlives this call: Django logs a 4xx or 5xx
        # (django.request) after the middleware chain has returned; it ends
        # with request_finished (api.common.logs.context_end).
        context_begin(request_id=request_id, request=request)
        response = self.get_response(request)
        seconds = perf_counter() - started
        route = route_of(request)
        if route is None:
            route = "static" if request.path_info.startswith(self.static_prefix) else "unmatched"
        request_observed(
            route=route, method=request.method or "", status=response.status_code, seconds=seconds
        )
        response["X-Request-ID"] = request_id
        if self.log_requests:
            access_log(request.method or "", route, response.status_code, seconds)
        return response
