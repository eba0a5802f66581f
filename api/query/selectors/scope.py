"""What a caller may read, and the filters every list shares.

Every read of call data starts from :func:`visible_apps`: a sub-select of
the caller's apps that the database evaluates inside the main query, so
tenancy costs no extra statement. An id named in a filter (``appId``,
``conferenceId``, ...) that is not visible is answered ``not_found``, the
same as an id that does not exist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Model, QuerySet

from api.calls.models import Conference, Connection, Participant, Session
from api.common.errors import ApiError
from api.common.time import now
from api.tenancy.models import App, User
from api.tenancy.selectors import apps_visible_to

# Lists that are not narrowed to one conference, participant or session
# show this much history unless the caller bounds ``created_at`` itself.
DEFAULT_WINDOW = timedelta(days=30)


def visible_apps(*, user: User) -> QuerySet[App, Any]:
    """The ids of the apps the user may see, as a subquery."""
    return apps_visible_to(user=user).values("pk")


@dataclass(frozen=True)
class CreatedAt:
    """``created_at_gt/gte/lt/lte`` bounds of a list."""

    gt: datetime | None = None
    gte: datetime | None = None
    lt: datetime | None = None
    lte: datetime | None = None

    @property
    def is_set(self) -> bool:
        return any(v is not None for v in (self.gt, self.gte, self.lt, self.lte))

    def apply(self, queryset: QuerySet, *, default_window: bool) -> QuerySet:
        bounds = {
            f"created_at__{op}": value
            for op, value in (
                ("gt", self.gt),
                ("gte", self.gte),
                ("lt", self.lt),
                ("lte", self.lte),
            )
            if value is not None
        }
        if not bounds and default_window:
            bounds["created_at__gte"] = now() - DEFAULT_WINDOW
        return queryset.filter(**bounds)


NO_BOUNDS = CreatedAt()


def _require_visible(model: type[Model], pk: uuid.UUID, *, user: User, app_path: str) -> None:
    if not model._default_manager.filter(
        pk=pk, **{f"{app_path}__in": visible_apps(user=user)}
    ).exists():
        raise ApiError("not_found")


def app_require(*, user: User, app_id: uuid.UUID | None) -> None:
    """``not_found`` unless the app is visible to the user (None: no check)."""
    if app_id is not None:
        _require_visible(App, app_id, user=user, app_path="pk")


def conference_require(*, user: User, conference_id: uuid.UUID | None) -> None:
    if conference_id is not None:
        _require_visible(Conference, conference_id, user=user, app_path="app")


def participant_require(*, user: User, participant_id: uuid.UUID | None) -> None:
    if participant_id is not None:
        _require_visible(Participant, participant_id, user=user, app_path="app")


def session_require(*, user: User, session_id: uuid.UUID | None) -> None:
    if session_id is not None:
        _require_visible(Session, session_id, user=user, app_path="app")


def connection_require(*, user: User, connection_id: uuid.UUID | None) -> None:
    if connection_id is not None:
        _require_visible(Connection, connection_id, user=user, app_path="app")


def filter_given(queryset: QuerySet, **lookups: object) -> QuerySet:
    """``queryset.filter`` with only the lookups whose value was given
    (not None): the optional equality filters of the list endpoints."""
    given = {key: value for key, value in lookups.items() if value is not None}
    return queryset.filter(**given) if given else queryset


def ordered(queryset: QuerySet, *, ordering: str) -> QuerySet:
    """Oldest first (the reference's order) or newest first; the id breaks
    ties so that pages never overlap."""
    if ordering == "-created_at":
        return queryset.order_by("-created_at", "-pk")
    return queryset.order_by("created_at", "pk")
