"""Reads over what was recorded of a call: when anything last happened in
a conference (its events, stats samples, connections, sessions)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import F, OuterRef, QuerySet, Subquery

from api.calls.models import Conference, Connection, Session
from api.events.models import GenericEvent, StatsSample


def _latest(model, field: str) -> Subquery:
    return Subquery(
        model.objects.filter(conference_id=OuterRef("pk"))
        .order_by(F(field).desc(nulls_last=True))
        .values(field)[:1]
    )


def with_last_activity(conferences: QuerySet[Conference]) -> QuerySet[Conference]:
    """Annotate the latest time anything happened in each conference: an
    event, a stats sample, a connection added, a session started (read by
    :func:`last_activity`)."""
    return conferences.annotate(
        last_event=_latest(GenericEvent, "created_at"),
        last_sample=_latest(StatsSample, "created_at"),
        last_connection=_latest(Connection, "start_time"),
        last_session=_latest(Session, "created_at"),
    )


def last_activity(conference: Conference) -> datetime:
    """The last activity of a conference annotated by :func:`with_last_activity`."""
    moments = [
        conference.last_event,  # type: ignore[attr-defined]
        conference.last_sample,  # type: ignore[attr-defined]
        conference.last_connection,  # type: ignore[attr-defined]
        conference.last_session,  # type: ignore[attr-defined]
    ]
    return max((m for m in moments if m is not None), default=conference.created_at)


def conferences_stale(*, idle_since: datetime) -> tuple[int, list[tuple[Conference, datetime]]]:
    """Ongoing conferences with no activity since ``idle_since``, each with
    the time of its last activity, oldest first; and how many conferences
    are ongoing. One query."""
    ongoing = list(with_last_activity(Conference.objects.filter(ongoing=True)))
    stale = [(c, last) for c in ongoing if (last := last_activity(c)) < idle_since]
    stale.sort(key=lambda item: item[1])
    return len(ongoing), stale
