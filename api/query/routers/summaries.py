"""Aggregates for the dashboard's overview pages (reference §5.3): over the
caller's apps, or one (``appId``), and a ``created_at`` window that is the
last 30 days unless bounded."""

from __future__ import annotations

from ninja import Query, Router

from api.query.auth import AuthedRequest
from api.query.responses import ERRORS, created_at_of
from api.query.schemas import (
    ConferenceDayOut,
    DurationBucketOut,
    GumSummaryOut,
    IssueCountOut,
    NamedCountOut,
    ParticipantCountSummaryOut,
    SessionSummaryOut,
    SetupTimeBucketOut,
    SummaryParams,
    list_of,
)
from api.query.selectors import scope, summaries

router = Router(tags=["summaries"])


def _scope(request: AuthedRequest, params: SummaryParams) -> summaries.Scope:
    scope.app_require(user=request.auth, app_id=params.app_id)
    return summaries.Scope(
        user=request.auth, app_id=params.app_id, created_at=created_at_of(params)
    )


@router.get(
    "/conferences/summary",
    response={200: list_of(ConferenceDayOut, "ConferenceSummary"), **ERRORS},
)
def conference_summary(request: AuthedRequest, params: Query[SummaryParams]) -> dict:
    """Per UTC day (days with conferences only): how many conferences were
    ongoing, had an error, a warning, or went well."""
    return {"data": summaries.conference_summary(scope=_scope(request, params))}


@router.get(
    "/conferences/duration-summary",
    response={200: list_of(DurationBucketOut, "DurationSummary"), **ERRORS},
)
def duration_summary(request: AuthedRequest, params: Query[SummaryParams]) -> dict:
    """Conferences per duration bucket (twelve buckets, < 1 m to > 60 m)."""
    return {"data": summaries.duration_summary(scope=_scope(request, params))}


@router.get(
    "/conferences/participant-count-summary",
    response={200: ParticipantCountSummaryOut, **ERRORS},
)
def participant_count_summary(request: AuthedRequest, params: Query[SummaryParams]) -> dict:
    """How many conferences had 0, 1, 2, ... participants (non-SFU, with a
    session)."""
    return summaries.participant_count_summary(scope=_scope(request, params))


@router.get("/issues/summary", response={200: list_of(IssueCountOut, "IssueSummary"), **ERRORS})
def issue_summary(request: AuthedRequest, params: Query[SummaryParams]) -> dict:
    """Issues per code, the most frequent first."""
    return {"data": summaries.issue_summary(scope=_scope(request, params))}


@router.get("/issues/gum-summary", response={200: GumSummaryOut, **ERRORS})
def gum_summary(request: AuthedRequest, params: Query[SummaryParams]) -> dict:
    """getUserMedia failures by error name."""
    return summaries.gum_summary(scope=_scope(request, params))


@router.get(
    "/connections/summary",
    response={200: list_of(NamedCountOut, "ConnectionSummary"), **ERRORS},
)
def connection_summary(request: AuthedRequest, params: Query[SummaryParams]) -> dict:
    """Direct versus relayed connections."""
    return {"data": summaries.connection_summary(scope=_scope(request, params))}


@router.get(
    "/connections/setup-time-summary",
    response={200: list_of(SetupTimeBucketOut, "SetupTimeSummary"), **ERRORS},
)
def setup_time_summary(request: AuthedRequest, params: Query[SummaryParams]) -> dict:
    """Time from the first offer to connected, per bucket, with the
    conferences in each bucket."""
    return {"data": summaries.setup_time_summary(scope=_scope(request, params))}


@router.get("/sessions/summary", response={200: SessionSummaryOut, **ERRORS})
def session_summary(request: AuthedRequest, params: Query[SummaryParams]) -> dict:
    """Browsers, operating systems, countries and cities of the sessions."""
    return summaries.session_summary(scope=_scope(request, params))
