"""Event lists: every event of a conference, and the ``GET`` side of the
SDK's event routes (one category each). The SDK routes themselves take
``POST`` in ``api.ingest``, which hands every other method to these."""

from __future__ import annotations

import uuid

from ninja import Query, Router

from api.events.models import GenericEvent
from api.query.auth import AuthedRequest
from api.query.responses import (
    ERRORS,
    created_at_of,
    keyset_answer,
    keyset_requested,
    listing,
    page_requested,
    rows_answer,
)
from api.query.schemas import (
    CategoryEventParams,
    ConferenceEventParams,
    EventOut,
    keyset_of,
    page_of,
)
from api.query.selectors import calls, events, scope

router = Router(tags=["events"])

EVENTS_RESPONSE = {
    200: keyset_of(EventOut, "EventKeysetPage") | page_of(EventOut, "EventPage"),
    **ERRORS,
}


@router.get("/conferences/{uuid:conference_id}/events", response=EVENTS_RESPONSE)
def conference_events(
    request: AuthedRequest, conference_id: uuid.UUID, params: Query[ConferenceEventParams]
) -> dict:
    """Every event of a conference, stats samples included (type and
    category ``stats``, ``data`` = the report as sent), oldest first; one
    page at a time (``{"results", "next"}``; ``cursor=<next>`` for the
    following page), or counted pages with ``limit``/``offset``."""
    conference = calls.conference_get(user=request.auth, conference_id=conference_id)
    type_filter = events.TypeFilter.parse(params.type)
    keyset = keyset_requested(params)
    if keyset is not None:
        rows, next_cursor = events.keyset_page(
            events.conference_event_tables(conference=conference, type_filter=type_filter),
            keyset=keyset,
            ordering=params.ordering,
        )
        return keyset_answer(rows, next_cursor)
    page = page_requested(params)
    rows, count = events.conference_events(
        conference=conference,
        type_filter=type_filter,
        page=page,
        ordering=params.ordering,
    )
    return rows_answer(list(rows), page=page, count=count)


def _category_list(request: AuthedRequest, params: CategoryEventParams, category: str) -> dict:
    user = request.auth
    scope.conference_require(user=user, conference_id=params.conference_id)
    scope.participant_require(user=user, participant_id=params.participant_id)
    queryset = events.category_events(
        user=user,
        category=category,
        conference_id=params.conference_id,
        participant_id=params.participant_id,
        type_filter=events.TypeFilter.parse(params.type),
        created_at=created_at_of(params),
    )
    keyset = keyset_requested(params)
    if keyset is not None:
        rows, next_cursor = events.keyset_page([queryset], keyset=keyset, ordering=params.ordering)
        return keyset_answer(rows, next_cursor)
    return listing(queryset, params)


@router.get("/events/browser", response=EVENTS_RESPONSE)
def browser_events(request: AuthedRequest, params: Query[CategoryEventParams]) -> dict:
    """Browser events of a conference and/or participant."""
    return _category_list(request, params, GenericEvent.Category.BROWSER)


@router.get("/events/get-user-media", response=EVENTS_RESPONSE)
def get_user_media_events(request: AuthedRequest, params: Query[CategoryEventParams]) -> dict:
    """getUserMedia events of a conference and/or participant."""
    return _category_list(request, params, GenericEvent.Category.GET_USER_MEDIA)


@router.get("/connection", response=EVENTS_RESPONSE)
def connection_events(request: AuthedRequest, params: Query[CategoryEventParams]) -> dict:
    """Connection events of a conference and/or participant."""
    return _category_list(request, params, GenericEvent.Category.CONNECTION)


@router.get("/stats", response=EVENTS_RESPONSE)
def stats_events(request: AuthedRequest, params: Query[CategoryEventParams]) -> dict:
    """Stats samples of a conference and/or participant, as events."""
    return _category_list(request, params, events.STATS)
