"""Reads of conferences, participants, sessions and connections.

List selectors return one lazy queryset each: the caller pages it (one
``COUNT`` and one ``SELECT``), and every per-row extra (``has_errors``,
``participants_count``, ...) is a sub-select of that one ``SELECT``, never
a query per row.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Count, Exists, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from api.calls.models import Conference, ConferenceParticipant, Connection, Participant, Session
from api.common.errors import ApiError
from api.quality.models import Issue
from api.query.selectors.scope import NO_BOUNDS, CreatedAt, filter_given, visible_apps
from api.tenancy.models import User


def participants_counted() -> Coalesce:
    """Distinct non-SFU participants with at least one session in the
    conference; 0 (not null) when there are none."""
    counted = (
        Session.objects.filter(conference=OuterRef("pk"), participant__is_sfu=False)
        .order_by()
        .values("conference")
        .annotate(n=Count("participant", distinct=True))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def conference_list(
    *,
    user: User,
    app_id: uuid.UUID | None = None,
    participant_id: uuid.UUID | None = None,
    conference_ids: list[uuid.UUID] | None = None,
    issue_code: str | None = None,
    duration_gte: int | None = None,
    duration_lt: int | None = None,
    ongoing: bool | None = None,
    created_at: CreatedAt = NO_BOUNDS,
) -> QuerySet[Conference]:
    queryset = Conference.objects.filter(app__in=visible_apps(user=user))
    if app_id is not None:
        queryset = queryset.filter(app_id=app_id)
    if participant_id is not None:
        # Through the link table, so conferences where the participant was
        # only someone's peer count too; Exists keeps rows unique.
        linked = ConferenceParticipant.objects.filter(
            conference=OuterRef("pk"), participant_id=participant_id
        )
        queryset = queryset.filter(Exists(linked))
    if conference_ids is not None:
        queryset = queryset.filter(pk__in=conference_ids)
    if issue_code is not None:
        queryset = queryset.filter(
            Exists(Issue.objects.filter(conference=OuterRef("pk"), code=issue_code))
        )
    if duration_gte is not None:
        queryset = queryset.filter(duration__gte=duration_gte)
    if duration_lt is not None:
        queryset = queryset.filter(duration__lt=duration_lt)
    if ongoing is not None:
        queryset = queryset.filter(ongoing=ongoing)
    narrowed = participant_id is not None or conference_ids is not None
    queryset = created_at.apply(queryset, default_window=not narrowed)
    issues = Issue.objects.filter(conference=OuterRef("pk"))
    return queryset.annotate(
        has_errors=Exists(issues.filter(type=Issue.Type.ERROR)),
        has_warnings=Exists(issues.filter(type=Issue.Type.WARNING)),
        participants_count=participants_counted(),
    )


def conference_get(*, user: User, conference_id: uuid.UUID) -> Conference:
    conference = Conference.objects.filter(
        pk=conference_id, app__in=visible_apps(user=user)
    ).first()
    if conference is None:
        raise ApiError("not_found")
    return conference


def conference_participant_ids(*, conference: Conference) -> list[uuid.UUID]:
    """Every participant linked to the conference (local users and peers),
    in the order they joined."""
    return list(
        ConferenceParticipant.objects.filter(conference=conference)
        .order_by("created_at", "pk")
        .values_list("participant_id", flat=True)
    )


def conference_issue_ids(*, conference: Conference) -> list[uuid.UUID]:
    return list(
        Issue.objects.filter(conference=conference)
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)
    )


def participant_list(
    *,
    user: User,
    app_id: uuid.UUID | None = None,
    conference_id: uuid.UUID | None = None,
    created_at: CreatedAt = NO_BOUNDS,
) -> QuerySet[Participant]:
    queryset = Participant.objects.filter(app__in=visible_apps(user=user))
    if app_id is not None:
        queryset = queryset.filter(app_id=app_id)
    if conference_id is not None:
        linked = ConferenceParticipant.objects.filter(
            participant=OuterRef("pk"), conference_id=conference_id
        )
        queryset = queryset.filter(Exists(linked))
    return created_at.apply(queryset, default_window=conference_id is None)


def participant_get(*, user: User, participant_id: uuid.UUID) -> Participant:
    participant = Participant.objects.filter(
        pk=participant_id, app__in=visible_apps(user=user)
    ).first()
    if participant is None:
        raise ApiError("not_found")
    return participant


def session_list(
    *,
    user: User,
    app_id: uuid.UUID | None = None,
    conference_id: uuid.UUID | None = None,
    participant_id: uuid.UUID | None = None,
    created_at: CreatedAt = NO_BOUNDS,
) -> QuerySet[Session]:
    # The list leaves out ``constraints`` (large, and only the detail shows it).
    queryset = filter_given(
        Session.objects.filter(app__in=visible_apps(user=user)).defer("constraints"),
        app_id=app_id,
        conference_id=conference_id,
        participant_id=participant_id,
    )
    narrowed = conference_id is not None or participant_id is not None
    return created_at.apply(queryset, default_window=not narrowed)


def session_get(*, user: User, session_id: uuid.UUID) -> Session:
    session = Session.objects.filter(pk=session_id, app__in=visible_apps(user=user)).first()
    if session is None:
        raise ApiError("not_found")
    return session


def issue_ids_of_sessions(*, session_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Session id → ids of its issues, oldest first, for a page of sessions
    in one query."""
    by_session: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    rows = (
        Issue.objects.filter(session_id__in=list(session_ids))
        .order_by("created_at", "pk")
        .values_list("session_id", "pk")
    )
    for session_id, issue_id in rows:
        by_session[session_id].append(issue_id)
    return by_session


def connection_list(
    *,
    user: User,
    app_id: uuid.UUID | None = None,
    conference_id: uuid.UUID | None = None,
    participant_id: uuid.UUID | None = None,
    session_id: uuid.UUID | None = None,
    created_at: CreatedAt = NO_BOUNDS,
) -> QuerySet[Connection]:
    queryset = filter_given(
        Connection.objects.filter(app__in=visible_apps(user=user)),
        app_id=app_id,
        conference_id=conference_id,
        participant_id=participant_id,
        session_id=session_id,
    )
    narrowed = any(v is not None for v in (conference_id, participant_id, session_id))
    return created_at.apply(queryset, default_window=not narrowed)


def connection_get(*, user: User, connection_id: uuid.UUID) -> Connection:
    connection = Connection.objects.filter(
        pk=connection_id, app__in=visible_apps(user=user)
    ).first()
    if connection is None:
        raise ApiError("not_found")
    return connection
