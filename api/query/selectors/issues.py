"""Reads of detected issues."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from api.common.errors import ApiError
from api.quality.models import Issue
from api.query.selectors.scope import NO_BOUNDS, CreatedAt, filter_given, visible_apps
from api.tenancy.models import User


def issue_list(
    *,
    user: User,
    app_id: uuid.UUID | None = None,
    conference_id: uuid.UUID | None = None,
    participant_id: uuid.UUID | None = None,
    session_id: uuid.UUID | None = None,
    connection_id: uuid.UUID | None = None,
    code: str | None = None,
    type: str | None = None,
    created_at: CreatedAt = NO_BOUNDS,
) -> QuerySet[Issue]:
    # Issues carry their app, so issues without a conference (e.g. an ICE
    # candidate error) are listed too; the original lost them.
    queryset = filter_given(
        Issue.objects.filter(app__in=visible_apps(user=user)),
        app_id=app_id,
        conference_id=conference_id,
        participant_id=participant_id,
        session_id=session_id,
        connection_id=connection_id,
        code=code,
        type=type,
    )
    narrowed = any(
        v is not None for v in (conference_id, participant_id, session_id, connection_id)
    )
    return created_at.apply(queryset, default_window=not narrowed)


def issue_get(*, user: User, issue_id: uuid.UUID) -> Issue:
    issue = Issue.objects.filter(pk=issue_id, app__in=visible_apps(user=user)).first()
    if issue is None:
        raise ApiError("not_found")
    return issue
