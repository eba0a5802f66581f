"""Reads of rollups for the app overview: at most a month of day rows, or
(for a range shorter than two days) the summaries of the calls in it, and
the worst calls of a range. No read touches the metric rows."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast

from api.rollups import summaries
from api.rollups.models import AppDay, CallSummary

# Ranges shorter than this are added up from the calls' summaries (an
# exact 24 hours); longer ones from whole UTC days.
EXACT_BELOW = timedelta(days=2)


def range_totals(*, app_id: uuid.UUID, start: datetime, end: datetime) -> dict[str, Any]:
    """The counters of the calls of ``app_id`` that started in
    [``start``, ``end``): ``{"total": {...}, "days": [(date, {...}), ...]}``
    (see api.rollups.summaries for the counters). One statement."""
    if end - start < EXACT_BELOW:
        # A few thousand small documents: read as text and parsed by orjson,
        # half the time of the JSON field's own decoding.
        rows = (
            CallSummary.objects.filter(app_id=app_id, start_time__gte=start, start_time__lt=end)
            .annotate(text=Cast("contribution", TextField()))
            .values_list("day", "text")
        )
        days: dict[date, dict[str, Any]] = {}
        for day, text in rows:
            summaries.add(days.setdefault(day, {}), orjson.loads(text))
        ordered = sorted(days.items())
    else:
        ordered = list(
            AppDay.objects.filter(app_id=app_id, day__gte=start.date(), day__lte=end.date())
            .order_by("day")
            .values_list("day", "data")
        )
    return {"total": summaries.merged([data for _, data in ordered]), "days": ordered}


def worst_calls(
    *, app_id: uuid.UUID, start: datetime, end: datetime, limit: int = 10
) -> QuerySet[CallSummary]:
    """The ended calls of the range with a problem, worst first."""
    return (
        CallSummary.objects.filter(
            app_id=app_id, start_time__gte=start, start_time__lt=end, badness__gt=0
        )
        .select_related("conference")
        .order_by("-badness", "-start_time")[:limit]
    )
