"""Log records that say which request they belong to, and never a secret.

The request being served is kept in a context variable (set by
``api.common.middleware``); the filter below copies its id, the app it is
for (set where the app becomes known: ``app_identified``) and the route it
matched onto each record, so a JSON line can be traced to its request.
Nothing here runs per request unless a record is written.

Secrets: no code logs a request body, a token or an api key. As a second
line of defence every formatted line is scrubbed of strings shaped like the
tokens this server issues or accepts (SDK JWTs, ``pm_`` API tokens, bearer
credentials). Api keys are 32 hex characters like the ids in log lines, so
they cannot be told apart by shape: they are simply never logged.
"""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.orjson import OrjsonFormatter


@dataclass(slots=True)
class RequestContext:
    request_id: str
    request: Any  # the HttpRequest, read lazily (its route is known only after URL resolution)
    app_id: Any = None


_current: ContextVar[RequestContext | None] = ContextVar("request_context", default=None)


def context_begin(*, request_id: str, request: Any) -> RequestContext:
    context = RequestContext(request_id=request_id, request=request)
    _current.set(context)
    return context


def context_end(**kwargs: Any) -> None:
    """The request is over (Django's ``request_finished``, sent once the
    answer is written, after Django's own log line about it): what the
    thread logs next belongs to no request."""
    _current.set(None)


def app_identified(app_id: Any) -> None:
    """The request being served is for this app (one attribute write)."""
    context = _current.get()
    if context is not None:
        context.app_id = app_id


def route_of(request: Any) -> str | None:
    """The URL pattern a request matched (``v1/stats``), never its path:
    paths carry ids, patterns are few (also the ``route`` label of metrics)."""
    match = getattr(request, "resolver_match", None)
    return match.route if match is not None else None


class RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        context = _current.get()
        if context is None:
            record.request_id = record.app_id = record.route = None
        else:
            record.request_id = context.request_id
            record.app_id = str(context.app_id) if context.app_id is not None else None
            record.route = route_of(context.request)
        return True


_SECRET_SHAPES = re.compile(
    r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"  # a JWT (the SDK's tokens)
    r"|\bpm_[A-Za-z0-9_-]{16,}"  # a personal API token
    r"|(?i:(?<=bearer )\S+)"
)


def redact(line: str) -> str:
    return _SECRET_SHAPES.sub("[redacted]", line)


class PlainFormatter(logging.Formatter):
    """Text for a terminal: the record, then its request's id, app and route."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        parts = [
            f"{name}={value}"
            for name, value in (
                ("request_id", getattr(record, "request_id", None)),
                ("app", getattr(record, "app_id", None)),
                ("route", getattr(record, "route", None)),
            )
            if value
        ]
        if parts:
            line = f"{line} [{' '.join(parts)}]"
        return redact(line)


class JsonFormatter(OrjsonFormatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def json_formatter() -> JsonFormatter:
    """One JSON object per line: time, level, logger, message, the request's
    id, app and route, and whatever ``extra`` the call passed (Django's
    ``status_code``, for instance), but not the request object itself."""
    return JsonFormatter(
        ["asctime", "levelname", "name", "message", "request_id", "app_id", "route"],
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        reserved_attrs=[*RESERVED_ATTRS, "request", "server_time"],
        rename_fields_keep_missing=True,
    )
