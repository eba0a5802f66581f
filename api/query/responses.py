"""Turning shaped dicts into answers, and the parameters every list shares."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
from django.db.models import QuerySet
from django.http import HttpResponse

from api.common.errors import ApiError
from api.common.pagination import PageRequest, page_request
from api.query.schemas import CreatedAtParams, ErrorOut, PageParams
from api.query.selectors.scope import CreatedAt, ordered

# Error answers every authenticated operation may give, for the schema.
ERRORS: dict[int, Any] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut}


def ok(payload: Any, *, status: int = 200) -> HttpResponse:
    return HttpResponse(
        orjson.dumps(payload), status=status, content_type="application/json; charset=utf-8"
    )


def error(exc: ApiError) -> HttpResponse:
    return ok(exc.body(), status=exc.status)


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


def rows_answer(
    rows: Iterable[Any],
    *,
    shape: Callable[[Any], dict],
    page: PageRequest | None,
    count: int | None,
) -> HttpResponse:
    shaped = [shape(row) for row in rows]
    if page is None:
        return ok({"data": shaped})
    return ok({"results": shaped, "count": count})


def listing(
    queryset: QuerySet,
    params: PageParams,
    shape: Callable[[Any], dict],
    *,
    prepare: Callable[[list], Callable[[Any], dict]] | None = None,
) -> HttpResponse:
    """A list answer: whole (``{"data"}``) or one page with the size of the
    whole list (``{"results", "count"}``). ``prepare`` receives the rows
    and may load what their shapes need (in a fixed number of queries)
    before shaping; it returns the shape function to use."""
    page = page_requested(params)
    queryset = ordered(queryset, ordering=params.ordering)
    if page is None:
        rows, count = list(queryset), None
    else:
        count = queryset.count()
        rows = list(queryset[page.offset : page.stop])
    if prepare is not None:
        shape = prepare(rows)
    return rows_answer(rows, shape=shape, page=page, count=count)
