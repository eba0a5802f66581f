"""The wire form of each object (reference §0.4, with ISO 8601 UTC times).

Ids and foreign keys are UUID strings under the field's name (``"app"``,
not ``app_id``), choices are their labels, times ``...Z``. The response
schemas in ``schemas.py`` describe exactly these dicts; the schemathesis
test checks that they agree.
"""

from __future__ import annotations

import uuid
from typing import Any

from api.calls.models import Conference, Connection, Participant, Session
from api.common.time import iso
from api.events.models import GenericEvent, StatsSample
from api.quality.catalogue import issue_explanation, issue_title
from api.quality.models import Issue
from api.tenancy.models import ApiToken, App, Membership, Organization, User


def _id(value: Any) -> str | None:
    return None if value is None else str(value)


def user_shape(user: User) -> dict[str, Any]:
    return {
        "id": str(user.pk),
        "username": user.username,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "is_staff": user.is_staff,
        "date_joined": iso(user.date_joined),
    }


def organization_shape(organization: Organization, *, role: str) -> dict[str, Any]:
    return {
        "id": str(organization.pk),
        "name": organization.name,
        "created_at": iso(organization.created_at),
        "role": role,
    }


def member_shape(membership: Membership) -> dict[str, Any]:
    user = membership.user
    return {
        "user": str(user.pk),
        "username": user.username,
        "email": user.email,
        "role": membership.role,
        "created_at": iso(membership.created_at),
    }


def app_shape(app: App, *, durations_days: dict[str, int]) -> dict[str, Any]:
    return {
        "id": str(app.pk),
        "name": app.name,
        "api_key": app.api_key,
        "domain": app.domain,
        "organization": str(app.organization_id),
        "interval": app.interval,
        "recording": app.recording,
        "durations_days": durations_days,
        "created_at": iso(app.created_at),
    }


def token_shape(token: ApiToken) -> dict[str, Any]:
    return {
        "id": str(token.pk),
        "name": token.name,
        "prefix": token.prefix,
        "created_at": iso(token.created_at),
        "last_used_at": iso(token.last_used_at),
        "revoked_at": iso(token.revoked_at),
    }


def conference_shape(conference: Conference) -> dict[str, Any]:
    return {
        "id": str(conference.pk),
        "conference_id": conference.conference_id,
        "conference_name": conference.conference_name,
        "conference_info": conference.conference_info,
        "start_time": iso(conference.start_time),
        "call_start": iso(conference.call_start),
        "end_time": iso(conference.end_time),
        "ongoing": conference.ongoing,
        "duration": conference.duration,
        "app": str(conference.app_id),
        "created_at": iso(conference.created_at),
    }


def conference_list_shape(conference: Conference) -> dict[str, Any]:
    """A conference as listed: with the annotations of ``conference_list``."""
    return {
        **conference_shape(conference),
        "has_errors": conference.has_errors,
        "has_warnings": conference.has_warnings,
        "participants_count": conference.participants_count,
    }


def conference_detail_shape(
    conference: Conference, *, participants: list[uuid.UUID], issues: list[uuid.UUID]
) -> dict[str, Any]:
    return {
        **conference_shape(conference),
        "participants": [str(pk) for pk in participants],
        "issues": [str(pk) for pk in issues],
    }


def participant_shape(participant: Participant) -> dict[str, Any]:
    return {
        "id": str(participant.pk),
        "participant_id": participant.participant_id,
        "participant_name": participant.participant_name,
        "is_sfu": participant.is_sfu,
        "app": str(participant.app_id),
        "created_at": iso(participant.created_at),
    }


def session_shape(
    session: Session, *, issues: list[uuid.UUID] | None, with_constraints: bool
) -> dict[str, Any]:
    """A session as the seed serialised it (list items: without
    ``constraints``, with ``issues``; the SDK's ``PUT /sessions`` answer:
    with ``constraints``, without ``issues``)."""
    shape: dict[str, Any] = {
        "id": str(session.pk),
        "conference": str(session.conference_id),
        "participant": str(session.participant_id),
    }
    if with_constraints:
        shape["constraints"] = session.constraints
    shape.update(
        {
            "devices": session.devices,
            "platform": session.platform,
            "metadata": session.metadata,
            "geo_ip": session.geo_ip,
            "app_version": session.app_version,
            "webrtc_sdk": session.webrtc_sdk,
            "session_info": session.session_info,
            "duration": session.duration,
            "end_time": iso(session.end_time),
            "call_start": iso(session.call_start),
            "created_at": iso(session.created_at),
        }
    )
    if issues is not None:
        shape["issues"] = [str(pk) for pk in issues]
    return shape


def connection_shape(connection: Connection) -> dict[str, Any]:
    return {
        "id": str(connection.pk),
        "session": str(connection.session_id),
        "conference": str(connection.conference_id),
        "participant": str(connection.participant_id),
        "peer": str(connection.peer_id),
        "type": connection.type,
        "state": connection.state,
        "connection_info": connection.connection_info,
        "start_time": iso(connection.start_time),
        "end_time": iso(connection.end_time),
        "duration": connection.duration,
        "created_at": iso(connection.created_at),
    }


def issue_shape(issue: Issue) -> dict[str, Any]:
    return {
        "id": str(issue.pk),
        "session": _id(issue.session_id),
        "conference": _id(issue.conference_id),
        "participant": _id(issue.participant_id),
        "connection": _id(issue.connection_id),
        "track": _id(issue.track_id),
        "type": issue.type,
        "code": issue.code,
        "data": issue.data,
        "created_at": iso(issue.created_at),
        "resolved_at": iso(issue.resolved_at),
        "duration": issue.duration,
        "peak_value": issue.peak_value,
        "title": issue_title(issue.code),
        "explanation": issue_explanation(issue.code),
    }


def event_shape(event: GenericEvent | StatsSample) -> dict[str, Any]:
    """A stored event, or a stats sample shown as an event of type and
    category ``stats`` whose data is the report as the SDK sent it."""
    if isinstance(event, StatsSample):
        return {
            "id": str(event.pk),
            "conference": str(event.conference_id),
            "participant": str(event.participant_id),
            "peer": str(event.peer_id),
            "session": str(event.session_id),
            "connection": str(event.connection_id),
            "track": None,
            "app": str(event.app_id),
            "type": "stats",
            "category": "stats",
            "data": event.data,
            "created_at": iso(event.created_at),
        }
    return {
        "id": str(event.pk),
        "conference": str(event.conference_id),
        "participant": str(event.participant_id),
        "peer": _id(event.peer_id),
        "session": str(event.session_id),
        "connection": _id(event.connection_id),
        "track": _id(event.track_id),
        "app": str(event.app_id),
        "type": event.type,
        "category": event.category,
        "data": event.data,
        "created_at": iso(event.created_at),
    }
