"""What the query API checks in every request before its operation runs.

* Bodies: JSON only (any Content-Type, like django-ninja), parsed by
  orjson, which refuses invalid UTF-8 and lone surrogates; a string or key
  holding a NUL character is refused naming its field (PostgreSQL cannot
  store one); a body over ``MAX_BODY_BYTES`` is a 413.
* Query strings: a parameter the operation does not take is refused with a
  400 naming it, rather than ignored (a misspelt filter would otherwise
  answer the whole unfiltered list).
* Rate limits per client address (api.common.limits), before the caller is
  authenticated, so a flood costs no password hash or token lookup.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import orjson
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from ninja.parser import Parser

from api.common import limits
from api.common.errors import ApiError

_NUL = "\x00"


def _nul_path(value: Any, path: str) -> str | None:
    """The path of the first string (or key) holding a NUL, or None."""
    if isinstance(value, str):
        return path if _NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if _NUL in key:
                return f"{path}.{key}".lstrip(".").replace(_NUL, "\\u0000")
            found = _nul_path(item, f"{path}.{key}")
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_path(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


class CheckedParser(Parser):
    def parse_body(self, request: HttpRequest) -> Any:
        try:
            raw = request.body
        except RequestDataTooBig as exc:
            raise ApiError("body_too_large") from exc
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ApiError(
                "invalid_json", "The request body is not valid JSON (UTF-8, no lone surrogates)."
            ) from exc
        if b"\\u0000" in raw:
            path = _nul_path(data, "")
            if path is not None:
                raise ApiError(
                    "invalid_parameters", f"'{path.lstrip('.')}' must not contain NUL characters."
                )
        return data


def _query_names(operation: Any) -> frozenset[str]:
    """The query-string parameters an operation takes (names and aliases)."""
    names: set[str] = set()
    for model in operation.models:
        if getattr(model, "__ninja_param_source__", None) != "query":
            continue
        names.update(getattr(model, "__ninja_flatten_map__", {}))
    return frozenset(names)


def operation_guard(run: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A ninja "view" decorator (wraps ``Operation.run``, before
    authentication): rate limits, then unknown query parameters."""
    operation = run.__self__  # type: ignore[attr-defined]
    allowed = _query_names(operation)

    @functools.wraps(run)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            limits.query_limit_check(request)
            unknown = sorted(name for name in request.GET if name not in allowed)
            if unknown:
                expected = ", ".join(sorted(allowed)) or "none"
                raise ApiError(
                    "invalid_parameters",
                    "Unknown query parameters: "
                    + ", ".join(repr(name) for name in unknown)
                    + f" (this operation takes: {expected}).",
                )
        except ApiError as exc:
            return operation.api.on_exception(request, exc)
        return run(request, *args, **kwargs)

    return guarded
