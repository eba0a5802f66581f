"""How answers are written (the schemas in ``schemas.py`` serialise them),
and the parameters every list shares."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from ninja.renderers import BaseRenderer

from api.common.errors import ApiError
from api.common.pagination import (
    KeysetRequest,
    PageRequest,
    keyset_request,
    page_request,
    unpaged_rows,
)
from api.common.views import error_response
from api.query.schemas import CreatedAtParams, ErrorOut, PageParams
from api.query.selectors.scope import CreatedAt, ordered

# Error answers every authenticated operation may give, for the schema.
ERRORS: dict[int, Any] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut}


class JsonRenderer(BaseRenderer):
    """Answers as orjson writes them: UUIDs as strings, times as ISO 8601
    UTC with ``Z`` (the form every answer uses, api.common.time.iso)."""

    media_type = "application/json"

    def render(self, request: HttpRequest, data: Any, *, response_status: int) -> bytes:
        return orjson.dumps(data, option=orjson.OPT_UTC_Z)


def error(exc: ApiError) -> HttpResponse:
    return error_response(exc)


def moment_utc(value: datetime | None, name: str) -> datetime | None:
    """A query-string moment as aware UTC (the database refuses offsets
    beyond ±15:59, which the ISO 8601 parser accepts)."""
    return _utc(value, name)


def _utc(value: datetime | None, name: str) -> datetime | None:
    """Aware UTC; a time without offset is taken as UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ApiError("invalid_parameters", f"'{name}' is out of range.") from exc


def created_at_of(params: CreatedAtParams | Any) -> CreatedAt:
    return CreatedAt(
        **{
            op: _utc(getattr(params, f"created_at_{op}", None), f"created_at_{op}")
            for op in ("gt", "gte", "lt", "lte")
        }
    )


def page_requested(params: PageParams) -> PageRequest | None:
    return page_request(limit=params.limit, offset=params.offset)


def keyset_requested(params: Any) -> KeysetRequest | None:
    """The event lists: paged by key (``limit`` rows after ``cursor``)
    unless ``offset`` asks for the counted form (then None:
    :func:`page_requested` applies)."""
    if params.cursor is None and params.offset is not None:
        return None
    return keyset_request(limit=params.limit, cursor=params.cursor)


def keyset_answer(rows: list[Any], next_cursor: str | None) -> dict:
    return {"results": rows, "next": next_cursor}


def rows_answer(rows: list[Any], *, page: PageRequest | None, count: int | None) -> dict:
    """A list answer: whole (``{"data"}``) or one page with the size of the
    whole list (``{"results", "count"}``)."""
    if page is None:
        return {"data": rows}
    return {"results": rows, "count": count}


def listing(
    queryset: QuerySet,
    params: PageParams,
    *,
    prepare: Callable[[list], None] | None = None,
) -> dict:
    """The list answer of ``queryset`` (see :func:`rows_answer`), ordered
    and paged by ``params``. ``prepare`` receives the rows and may load
    what their schema reads (in a fixed number of queries)."""
    page = page_requested(params)
    queryset = ordered(queryset, ordering=params.ordering)
    if page is None:
        rows, count = unpaged_rows(queryset), None
    else:
        count = queryset.count()
        rows = list(queryset[page.offset : page.stop])
    if prepare is not None:
        prepare(rows)
    return rows_answer(rows, page=page, count=count)
