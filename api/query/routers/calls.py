"""Conferences, participants, sessions, connections and issues: the reads
behind the dashboard's call pages."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from ninja import Query, Router

from api.calls import erasure
from api.calls.models import Session
from api.common.errors import ApiError
from api.quality.verdicts import conference_verdict
from api.query.auth import AuthedRequest
from api.query.responses import ERRORS, created_at_of, listing
from api.query.schemas import (
    ConferenceDetailOut,
    ConferenceListItemOut,
    ConferenceListParams,
    ConnectionListParams,
    ConnectionOut,
    ErasureOut,
    IssueListParams,
    IssueOut,
    ParticipantListParams,
    ParticipantOut,
    SessionListItemOut,
    SessionListParams,
    SessionOut,
    data_of,
    list_of,
    page_of,
)
from api.query.selectors import calls, issues, scope
from api.tenancy.models import Membership, User
from api.tenancy.selectors import app_get_for

router = Router()

MAX_CONFERENCE_IDS = 200


def _list_response(schema: type, name: str) -> dict:
    return {200: list_of(schema, f"{name}List") | page_of(schema, f"{name}Page"), **ERRORS}


def _conference_ids(raw: str | None) -> list[uuid.UUID] | None:
    if raw is None:
        return None
    parts = [part.strip() for part in raw.split(",") if part.strip()]
    if len(parts) > MAX_CONFERENCE_IDS:
        raise ApiError(
            "invalid_parameters", f"'conference_ids' names more than {MAX_CONFERENCE_IDS} ids."
        )
    try:
        return [uuid.UUID(part) for part in parts]
    except ValueError as exc:
        raise ApiError("invalid_parameters", "'conference_ids' must be UUIDs.") from exc


def _require(user: User, **ids: uuid.UUID | None) -> None:
    """Each id a filter names must be visible to the caller (else 404)."""
    checks: dict[str, Callable[..., None]] = {
        "app_id": scope.app_require,
        "conference_id": scope.conference_require,
        "participant_id": scope.participant_require,
        "session_id": scope.session_require,
        "connection_id": scope.connection_require,
    }
    for name, value in ids.items():
        checks[name](user=user, **{name: value})


# --------------------------------------------------------------- conferences


@router.get(
    "/conferences",
    tags=["conferences"],
    response=_list_response(ConferenceListItemOut, "Conference"),
)
def conference_list(request: AuthedRequest, params: Query[ConferenceListParams]) -> dict:
    """Conferences of the caller's apps, oldest first, with ``has_errors``,
    ``has_warnings`` and ``participants_count``. Without a ``created_at_*``
    bound, ``participantId`` or ``conference_ids``: the last 30 days."""
    user = request.auth
    _require(user, app_id=params.app_id, participant_id=params.participant_id)
    queryset = calls.conference_list(
        user=user,
        app_id=params.app_id,
        participant_id=params.participant_id,
        conference_ids=_conference_ids(params.conference_ids),
        issue_code=params.issue_code,
        duration_gte=params.duration_gte,
        duration_lt=params.duration_lt,
        ongoing=params.ongoing,
        created_at=created_at_of(params),
    )
    return listing(queryset, params)


@router.get(
    "/conferences/{uuid:conference_id}",
    tags=["conferences"],
    response={200: data_of(ConferenceDetailOut, "ConferenceData"), **ERRORS},
)
def conference_detail(request: AuthedRequest, conference_id: uuid.UUID) -> dict:
    """One conference with the ids of its participants (users and peers)
    and of its issues."""
    conference = calls.conference_get(user=request.auth, conference_id=conference_id)
    conference.participant_ids = calls.conference_participant_ids(conference=conference)  # type: ignore[attr-defined]
    conference.issue_ids = calls.conference_issue_ids(conference=conference)  # type: ignore[attr-defined]
    conference.verdict = conference_verdict(conference.pk)  # type: ignore[attr-defined]
    return {"data": conference}


# -------------------------------------------------------------- participants


@router.get(
    "/participants", tags=["participants"], response=_list_response(ParticipantOut, "Participant")
)
def participant_list(request: AuthedRequest, params: Query[ParticipantListParams]) -> dict:
    """Participants of the caller's apps. Without a ``created_at_*`` bound
    or ``conferenceId``: those created in the last 30 days."""
    user = request.auth
    _require(user, app_id=params.app_id, conference_id=params.conference_id)
    queryset = calls.participant_list(
        user=user,
        app_id=params.app_id,
        conference_id=params.conference_id,
        created_at=created_at_of(params),
    )
    return listing(queryset, params)


@router.get(
    "/participants/{uuid:participant_id}",
    tags=["participants"],
    response={200: data_of(ParticipantOut, "ParticipantData"), **ERRORS},
)
def participant_detail(request: AuthedRequest, participant_id: uuid.UUID) -> dict:
    return {"data": calls.participant_get(user=request.auth, participant_id=participant_id)}


@router.delete(
    "/participants/{uuid:participant_id}",
    tags=["participants"],
    response={200: data_of(ErasureOut, "ErasureData"), **ERRORS},
)
def participant_erase(request: AuthedRequest, participant_id: uuid.UUID) -> dict:
    """Erase a participant (admins and owners of its app's organization):
    the participant and every row that names them (sessions, connections
    to and from them, tracks, events, stats samples, metrics, issues) are
    deleted. Answers what was removed, per kind of row. Not undoable."""
    participant = calls.participant_get(user=request.auth, participant_id=participant_id)
    app_get_for(user=request.auth, app_id=participant.app_id, role=Membership.Role.ADMIN)
    return {"data": {"removed": erasure.participant_erase(participant=participant)}}


# ------------------------------------------------------------------ sessions


@router.get("/sessions", tags=["sessions"], response=_list_response(SessionListItemOut, "Session"))
def session_list(request: AuthedRequest, params: Query[SessionListParams]) -> dict:
    """Sessions, without ``constraints``, with the ids of their issues.
    Without a ``created_at_*`` bound, ``conferenceId`` or ``participantId``:
    the last 30 days."""
    user = request.auth
    _require(
        user,
        app_id=params.app_id,
        conference_id=params.conference_id,
        participant_id=params.participant_id,
    )
    queryset = calls.session_list(
        user=user,
        app_id=params.app_id,
        conference_id=params.conference_id,
        participant_id=params.participant_id,
        created_at=created_at_of(params),
    )

    return listing(queryset, params, prepare=_with_issue_ids)


def _with_issue_ids(sessions: list[Session]) -> None:
    issue_ids = calls.issue_ids_of_sessions(session_ids=[session.pk for session in sessions])
    for session in sessions:
        session.issue_ids = issue_ids.get(session.pk, [])  # type: ignore[attr-defined]


@router.get(
    "/sessions/{uuid:session_id}",
    tags=["sessions"],
    response={200: data_of(SessionOut, "SessionData"), **ERRORS},
)
def session_detail(request: AuthedRequest, session_id: uuid.UUID) -> dict:
    """One session, with ``constraints`` and the ids of its issues."""
    session = calls.session_get(user=request.auth, session_id=session_id)
    _with_issue_ids([session])
    return {"data": session}


# --------------------------------------------------------------- connections


@router.get(
    "/connections", tags=["connections"], response=_list_response(ConnectionOut, "Connection")
)
def connection_list(request: AuthedRequest, params: Query[ConnectionListParams]) -> dict:
    """Connections. Without a ``created_at_*`` bound, ``conferenceId``,
    ``participantId`` or ``sessionId``: the last 30 days."""
    user = request.auth
    _require(
        user,
        app_id=params.app_id,
        conference_id=params.conference_id,
        participant_id=params.participant_id,
        session_id=params.session_id,
    )
    queryset = calls.connection_list(
        user=user,
        app_id=params.app_id,
        conference_id=params.conference_id,
        participant_id=params.participant_id,
        session_id=params.session_id,
        created_at=created_at_of(params),
    )
    return listing(queryset, params)


@router.get(
    "/connections/{uuid:connection_id}",
    tags=["connections"],
    response={200: data_of(ConnectionOut, "ConnectionData"), **ERRORS},
)
def connection_detail(request: AuthedRequest, connection_id: uuid.UUID) -> dict:
    return {"data": calls.connection_get(user=request.auth, connection_id=connection_id)}


# -------------------------------------------------------------------- issues


@router.get("/issues", tags=["issues"], response=_list_response(IssueOut, "Issue"))
def issue_list(request: AuthedRequest, params: Query[IssueListParams]) -> dict:
    """Issues, with their title and explanation. Without a ``created_at_*``
    bound or a conference, participant, session or connection: the last
    30 days."""
    user = request.auth
    _require(
        user,
        app_id=params.app_id,
        conference_id=params.conference_id,
        participant_id=params.participant_id,
        session_id=params.session_id,
        connection_id=params.connection_id,
    )
    queryset = issues.issue_list(
        user=user,
        app_id=params.app_id,
        conference_id=params.conference_id,
        participant_id=params.participant_id,
        session_id=params.session_id,
        connection_id=params.connection_id,
        code=params.code,
        type=params.type,
        created_at=created_at_of(params),
    )
    return listing(queryset, params)


@router.get(
    "/issues/{uuid:issue_id}",
    tags=["issues"],
    response={200: data_of(IssueOut, "IssueData"), **ERRORS},
)
def issue_detail(request: AuthedRequest, issue_id: uuid.UUID) -> dict:
    return {"data": issues.issue_get(user=request.auth, issue_id=issue_id)}
