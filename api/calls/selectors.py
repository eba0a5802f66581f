"""Reads of the call model for the SDK's requests: the rows a token or an
id names, each refused with the catalogue's error when it names nothing
the caller may use."""

from __future__ import annotations

import contextlib
import uuid

from django.db.models import Q

from api.calls.models import Conference, Connection, Participant, Session
from api.common.errors import ApiError


def session_get(*, session_id: uuid.UUID) -> Session:
    """The session a verified session token names. Raises ``invalid_token``
    when it no longer exists (its app was deleted)."""
    session = Session.objects.filter(pk=session_id).first()
    if session is None:
        raise ApiError("invalid_token")
    return session


def session_start_get(
    *, participant_id: uuid.UUID, conference_id: uuid.UUID
) -> tuple[Participant, Conference]:
    """The participant and conference an init token names. Raises
    ``invalid_token`` when either is gone or they belong to different apps."""
    participant = Participant.objects.filter(pk=participant_id).first()
    conference = Conference.objects.filter(pk=conference_id).first()
    if participant is None or conference is None or participant.app_id != conference.app_id:
        raise ApiError("invalid_token")
    return participant, conference


def connection_of_session(
    *, session: Session, connection_id: uuid.UUID | None
) -> Connection | None:
    """The session's connection of that id (None when no id was given).
    Raises ``connection_not_found`` for an unknown id or another session's
    connection (answered alike: a token does not learn what exists elsewhere)."""
    if connection_id is None:
        return None
    connection = Connection.objects.filter(pk=connection_id, session_id=session.pk).first()
    if connection is None:
        raise ApiError("connection_not_found")
    return connection


def peer_of_app(*, session: Session, peer_ref: str) -> Participant | None:
    """A peer named by its server id (what the SDK sends for most events) or
    by the application's id (what it sends for removeConnection/removePeer)."""
    lookup = Q(participant_id=peer_ref)
    with contextlib.suppress(ValueError):
        lookup |= Q(pk=uuid.UUID(peer_ref))
    return Participant.objects.filter(lookup, app_id=session.app_id).first()


def participant_external_id(*, participant_id: uuid.UUID) -> str | None:
    """The application's id of a participant (``userId``)."""
    return (
        Participant.objects.filter(pk=participant_id)
        .values_list("participant_id", flat=True)
        .first()
    )


def conference_of_app(*, app_id: uuid.UUID, conference_id: str) -> Conference:
    """The app's conference of that application id. Raises ``conference_not_found``."""
    conference = Conference.objects.filter(app_id=app_id, conference_id=conference_id).first()
    if conference is None:
        raise ApiError("conference_not_found")
    return conference


def participant_of_app(*, app_id: uuid.UUID, participant_id: str) -> Participant:
    """The app's participant of that application id. Raises ``participant_not_found``."""
    participant = Participant.objects.filter(app_id=app_id, participant_id=participant_id).first()
    if participant is None:
        raise ApiError("participant_not_found")
    return participant
