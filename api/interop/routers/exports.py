"""Exports of calls, streamed: one conference, or an app's calls in a
time range, as JSON Lines or CSV (record shapes: api.interop.export and
docs/interop.md). Scoped like every read: another tenant's id is a 404."""

from __future__ import annotations

import uuid
from typing import Literal

from django.http import StreamingHttpResponse
from ninja import Query, Router, Schema

from api.calls.models import Conference
from api.common.errors import ApiError
from api.interop.export import batched, conferences_of_app, csv_lines, jsonl_lines
from api.query.auth import AuthedRequest
from api.query.responses import ERRORS, moment_utc
from api.query.schemas import Moment
from api.query.selectors import scope

router = Router(tags=["interop"])

Format = Literal["jsonl", "csv"]

_CONTENT = {
    "jsonl": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
}

_STREAMED = {
    "responses": {
        200: {
            "description": "The export, streamed: JSON Lines (one record per line) or CSV.",
            "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    }
}


class ExportParams(Schema):
    format: Format = "jsonl"


class AppExportParams(ExportParams):
    start: Moment | None = None
    end: Moment | None = None


def _streamed(queryset, fmt: str, filename: str) -> StreamingHttpResponse:
    lines = jsonl_lines(queryset) if fmt == "jsonl" else csv_lines(queryset)
    response = StreamingHttpResponse(batched(lines), content_type=_CONTENT[fmt])
    extension = "jsonl" if fmt == "jsonl" else "csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}.{extension}"'
    return response


@router.get(
    "/conferences/{conference_id}/export",
    response={**ERRORS},
    openapi_extra=_STREAMED,
)
def conference_export(
    request: AuthedRequest, conference_id: uuid.UUID, params: Query[ExportParams]
) -> StreamingHttpResponse:
    """One conference as JSON Lines (``call``, ``participant``,
    ``connection``, ``issue`` and ``metric`` records) or CSV (per-track
    metric rows with the call, participant and connection columns)."""
    scope.conference_require(user=request.auth, conference_id=conference_id)
    return _streamed(
        Conference.objects.filter(pk=conference_id), params.format, f"conference-{conference_id}"
    )


@router.get(
    "/apps/{app_id}/export",
    response={**ERRORS},
    openapi_extra=_STREAMED,
)
def app_export(
    request: AuthedRequest, app_id: uuid.UUID, params: Query[AppExportParams]
) -> StreamingHttpResponse:
    """The app's calls created in [``start``, ``end``) (ISO 8601; either
    may be left out), oldest first, as :func:`conference_export` writes
    one."""
    scope.app_require(user=request.auth, app_id=app_id)
    start, end = moment_utc(params.start, "start"), moment_utc(params.end, "end")
    if start is not None and end is not None and end <= start:
        raise ApiError("invalid_parameters", "'end' must be after 'start'.")
    return _streamed(
        conferences_of_app(app_id=app_id, start=start, end=end), params.format, f"app-{app_id}"
    )
