"""``POST /v1/stats`` as a bare WSGI callable, for the common case.

The stats route is nine requests in ten the SDK sends. Through Django's
handler, even the lean one (api.ingest.handler), building the request and
the response objects, sending the request signals, resolving the URL and
running the three middleware cost more than the view itself: the no-op
route took 0.21 ms of CPU per request under granian where granian's own
work for a bare WSGI app is 0.04 ms (docs/benchmarks.md, "The bare stats
lane"). This lane does for ``/v1/stats`` what that chain does, directly:

* the request id (``X-Request-ID``) and the log context, the request
  counter and duration histogram (api.common.middleware);
* Django's ``request_started`` and ``request_finished`` signals, so the
  database connections and caches are looked after as on every request;
* the CORS answer of an SDK route: ``Vary: origin``, and the ``Origin``
  echoed (api.ingest.cors);
* the same view core (api.ingest.views.stats_take), the same error bodies
  and the same log lines for a database that is away or an unhandled error.

Whatever is not the common case goes to the Django handler, which answers it
as it always did: a Host that is not allowed (or none), a body larger than
``MAX_BODY_BYTES`` or of no declared length, a query string. Tests send
every SDK request through ``api.wsgi.application`` (conftest.py), so the
suite runs on this lane, and api/ingest/tests/test_stats_wsgi.py compares its
answers with the Django handler's, header for header.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from http import HTTPStatus
from time import perf_counter
from urllib.parse import urlsplit

import orjson
from corsheaders.conf import conf as cors_conf
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.http.request import split_domain_port, validate_host

from api.common.errors import ApiError
from api.common.logs import context_begin
from api.common.metrics import request_observed
from api.common.middleware import access_log, request_id_of
from api.ingest.views import EMPTY, sdk_error, stats_take

# Django's handler logs every 4xx and 5xx answer here; so does this lane.
request_logger = logging.getLogger("django.request")

_JSON = ("Content-Type", "application/json; charset=utf-8")
_VARY = ("Vary", "origin")
_HOSTS_CACHED = 256


class _Match:
    """What the log filter and the metrics read of a resolved URL."""

    __slots__ = ("route",)

    def __init__(self, route: str) -> None:
        self.route = route


class _Request:
    """The few attributes of a Django request that the request's log
    context reads (api.common.logs.route_of)."""

    __slots__ = ("path_info", "resolver_match")

    def __init__(self, path: str, match: _Match) -> None:
        self.path_info = path
        self.resolver_match = match


@functools.cache
def _status_line(status: int) -> str:
    return f"{status} {HTTPStatus(status).phrase}"


class StatsWsgi:
    """``fallback`` (the lean Django handler) serves what this lane does
    not; ``routes`` maps each stats path to its URL pattern's route."""

    def __init__(self, fallback: Callable, routes: dict[str, str]) -> None:
        self.fallback = fallback
        self.matches = {path: _Match(route) for path, route in routes.items()}
        self.max_body = settings.CONFIG.max_body_bytes
        self.trust_incoming_id = settings.CONFIG.trusted_proxy_hops > 0
        self.log_requests = settings.CONFIG.log_requests
        # The CORS settings an SDK route's answer depends on; anything else
        # in corsheaders concerns preflights, which go to Django.
        self.cors_star = cors_conf.CORS_ALLOW_ALL_ORIGINS and not cors_conf.CORS_ALLOW_CREDENTIALS
        self.cors_extra = []
        if cors_conf.CORS_ALLOW_CREDENTIALS:
            self.cors_extra.append(("Access-Control-Allow-Credentials", "true"))
        if cors_conf.CORS_EXPOSE_HEADERS:
            self.cors_extra.append(
                ("Access-Control-Expose-Headers", ", ".join(cors_conf.CORS_EXPOSE_HEADERS))
            )
        self._hosts: dict[str, bool] = {}
        self._hosts_for: object = None

    # ---------------------------------------------------------------- checks

    def _host_allowed(self, environ: dict) -> bool:
        """Whether the request's Host is one this server serves, as
        ``HttpRequest.get_host`` decides it; False without a Host header
        (Django then decides from the server's name)."""
        if settings.USE_X_FORWARDED_HOST and "HTTP_X_FORWARDED_HOST" in environ:
            host = environ["HTTP_X_FORWARDED_HOST"]
        else:
            host = environ.get("HTTP_HOST")
            if host is None:
                return False
        allowed_hosts = settings.ALLOWED_HOSTS
        if allowed_hosts is not self._hosts_for or len(self._hosts) > _HOSTS_CACHED:
            self._hosts, self._hosts_for = {}, allowed_hosts
        allowed = self._hosts.get(host)
        if allowed is None:
            if settings.DEBUG and not allowed_hosts:
                allowed_hosts = [".localhost", "127.0.0.1", "[::1]"]
            domain, _ = split_domain_port(host)
            allowed = self._hosts[host] = bool(domain and validate_host(domain, allowed_hosts))
        return allowed

    def _length(self, environ: dict) -> int | None:
        """The body's declared length when this lane may read it."""
        length = environ.get("CONTENT_LENGTH", "")
        if not length.isdigit():
            return None
        value = int(length)
        return value if value <= self.max_body else None

    # --------------------------------------------------------------- serving

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        match = self.matches.get(environ.get("PATH_INFO", ""))
        length = self._length(environ)
        if (
            match is None
            or length is None
            or environ.get("QUERY_STRING")
            or not self._host_allowed(environ)
        ):
            return self.fallback(environ, start_response)
        started = perf_counter()
        request_started.send(sender=self.__class__, environ=environ)
        try:
            request_id = request_id_of(
                environ.get("HTTP_X_REQUEST_ID", ""), trusted=self.trust_incoming_id
            )
            request = _Request(environ["PATH_INFO"], match)
            context_begin(request_id=request_id, request=request)
            status, body, headers = self._answer(environ, length)
            if status >= 400:
                (request_logger.error if status >= 500 else request_logger.warning)(
                    "%s: %s",
                    HTTPStatus(status).phrase,
                    request.path_info,
                    extra={"status_code": status, "request": request},
                )
            headers.append(_JSON)
            headers.append(("Content-Length", str(len(body))))
            headers.append(_VARY)
            origin = environ.get("HTTP_ORIGIN")
            if origin:
                headers.extend(self._cors(origin))
            headers.append(("X-Request-ID", request_id))
            seconds = perf_counter() - started
            request_observed(route=match.route, method="POST", status=status, seconds=seconds)
            if self.log_requests:
                access_log("POST", match.route, status, seconds)
            start_response(_status_line(status), headers)
        finally:
            request_finished.send(sender=self.__class__)
        return [body]

    def _cors(self, origin: str) -> list[tuple[str, str]]:
        try:
            urlsplit(origin)
        except ValueError:
            return []  # corsheaders leaves an origin it cannot parse unanswered
        allow = "*" if self.cors_star else origin
        return [("Access-Control-Allow-Origin", allow), *self.cors_extra]

    def _answer(self, environ: dict, length: int) -> tuple[int, bytes, list[tuple[str, str]]]:
        """The view's answer, with the errors (and their log lines) of
        api.ingest.views.sdk_endpoint."""
        try:
            stats_take(environ["wsgi.input"].read(length))
            return 200, EMPTY, []
        except Exception as exc:
            return _error(sdk_error(exc, "POST", environ["PATH_INFO"]))


def _error(error: ApiError) -> tuple[int, bytes, list[tuple[str, str]]]:
    return error.status, orjson.dumps(error.body()), list(error.headers().items())
