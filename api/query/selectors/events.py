"""Reads of the events of a call.

Events live in two tables: ``GenericEvent`` (browser, getUserMedia,
connection and track events) and ``StatsSample`` (one row per stats
request, its report compressed). The API shows both as one list of events,
a stats sample being an event of type and category ``stats``.

A page of that list costs a fixed number of statements whatever its size
and offset: the two counts, one ``UNION ALL`` that picks the page's
``(created_at, id)`` keys from both tables, then the rows of each table by
primary key. Neither table is ever read beyond the page.
"""

from __future__ import annotations

import heapq
import uuid
from dataclasses import dataclass

from django.db.models import IntegerField, Q, QuerySet, Value

from api.calls.models import Conference
from api.common.errors import ApiError
from api.common.pagination import Cursor, KeysetRequest, PageRequest
from api.events.models import GenericEvent, StatsSample
from api.query.selectors.scope import CreatedAt, ordered, visible_apps
from api.tenancy.models import User

STATS = "stats"

Event = GenericEvent | StatsSample

_EVENT, _SAMPLE = 0, 1


@dataclass(frozen=True)
class TypeFilter:
    """``type=X`` keeps only events of type X, ``type=-X`` drops them."""

    name: str | None = None
    exclude: bool = False

    @classmethod
    def parse(cls, raw: str | None) -> TypeFilter:
        if not raw:
            return cls()
        exclude = raw.startswith("-")
        name = raw[1:] if exclude else raw
        if not name:
            raise ApiError("invalid_parameters", "'type' must name an event type.")
        return cls(name=name, exclude=exclude)

    def admits(self, type_name: str) -> bool:
        if self.name is None:
            return True
        return (type_name == self.name) != self.exclude

    def apply(self, queryset: QuerySet[GenericEvent]) -> QuerySet[GenericEvent]:
        if self.name is None:
            return queryset
        if self.exclude:
            return queryset.exclude(type=self.name)
        return queryset.filter(type=self.name)


def _sort_key(row: Event) -> tuple:
    return (row.created_at, row.pk)


def _merged(events: QuerySet, samples: QuerySet | None, *, ordering: str) -> list[Event]:
    """Both tables in one order, each read once."""
    first = list(ordered(events, ordering=ordering))
    if samples is None:
        return first
    second = list(ordered(samples, ordering=ordering))
    reverse = ordering.startswith("-")
    return list(heapq.merge(first, second, key=_sort_key, reverse=reverse))


def _page_of_both(
    events: QuerySet[GenericEvent],
    samples: QuerySet[StatsSample],
    *,
    page: PageRequest,
    ordering: str,
) -> list[Event]:
    keys = (
        events.annotate(kind=Value(_EVENT, output_field=IntegerField()))
        .values_list("kind", "id", "created_at")
        .union(
            samples.annotate(kind=Value(_SAMPLE, output_field=IntegerField())).values_list(
                "kind", "id", "created_at"
            ),
            all=True,
        )
    )
    if ordering == "-created_at":
        keys = keys.order_by("-created_at", "-id")
    else:
        keys = keys.order_by("created_at", "id")
    picked = list(keys[page.offset : page.stop])
    event_ids = [pk for kind, pk, _ in picked if kind == _EVENT]
    sample_ids = [pk for kind, pk, _ in picked if kind == _SAMPLE]
    rows: dict[tuple[int, uuid.UUID], Event] = {}
    if event_ids:
        rows.update({(_EVENT, pk): row for pk, row in events.in_bulk(event_ids).items()})
    if sample_ids:
        rows.update({(_SAMPLE, pk): row for pk, row in samples.in_bulk(sample_ids).items()})
    return [rows[(kind, pk)] for kind, pk, _ in picked]


def _after(queryset: QuerySet, cursor: Cursor | None, *, ordering: str) -> QuerySet:
    if cursor is None:
        return queryset
    if ordering == "-created_at":
        return queryset.filter(
            Q(created_at__lt=cursor.created_at) | Q(created_at=cursor.created_at, pk__lt=cursor.id)
        )
    return queryset.filter(
        Q(created_at__gt=cursor.created_at) | Q(created_at=cursor.created_at, pk__gt=cursor.id)
    )


def keyset_page(
    querysets: list[QuerySet], *, keyset: KeysetRequest, ordering: str
) -> tuple[list[Event], str | None]:
    """One page of the rows of ``querysets`` (one or both event tables) in
    time order, after the cursor: one statement per table, each reading at
    most one row more than the page. Returns the rows and the cursor of the
    next page (None on the last)."""
    wanted = keyset.limit + 1
    parts = [
        list(ordered(_after(queryset, keyset.after, ordering=ordering), ordering=ordering)[:wanted])
        for queryset in querysets
    ]
    merged = list(heapq.merge(*parts, key=_sort_key, reverse=ordering.startswith("-")))[:wanted]
    rows = merged[: keyset.limit]
    if len(merged) <= keyset.limit:
        return rows, None
    last = rows[-1]
    return rows, Cursor(created_at=last.created_at, id=last.pk).encode()


def conference_event_tables(*, conference: Conference, type_filter: TypeFilter) -> list[QuerySet]:
    """The querysets of a conference's events and (unless filtered out)
    stats samples."""
    tables: list[QuerySet] = [type_filter.apply(GenericEvent.objects.filter(conference=conference))]
    if type_filter.admits(STATS):
        tables.append(StatsSample.objects.with_owner().filter(conference=conference))
    return tables


def conference_events(
    *,
    conference: Conference,
    type_filter: TypeFilter,
    page: PageRequest | None,
    ordering: str = "created_at",
) -> tuple[list[Event], int | None]:
    """Events and stats samples of a conference, filtered by type, in time
    order. Returns the rows and, when paged, the size of the whole list."""
    events = type_filter.apply(GenericEvent.objects.filter(conference=conference))
    samples: QuerySet | None = StatsSample.objects.with_owner().filter(conference=conference)
    if not type_filter.admits(STATS):
        samples = None
    if page is None:
        return _merged(events, samples, ordering=ordering), None
    count = events.count() + (samples.count() if samples is not None else 0)
    if samples is None:
        rows = list(ordered(events, ordering=ordering)[page.offset : page.stop])
    else:
        rows = _page_of_both(events, samples, page=page, ordering=ordering)
    return rows, count


def category_events(
    *,
    user: User,
    category: str,
    conference_id: uuid.UUID | None,
    participant_id: uuid.UUID | None,
    type_filter: TypeFilter,
    created_at: CreatedAt,
) -> QuerySet:
    """Events of one category (the ``GET`` side of the SDK's event routes),
    of a conference and/or a participant, as one lazy queryset. Category
    ``stats`` lists the stats samples."""
    if conference_id is None and participant_id is None:
        raise ApiError("missing_parameters", "'conferenceId' or 'participantId' is required.")
    queryset: QuerySet
    if category == STATS:
        queryset = StatsSample.objects.with_owner()
        if not type_filter.admits(STATS):
            queryset = queryset.none()
    else:
        queryset = type_filter.apply(GenericEvent.objects.filter(category=category))
    queryset = queryset.filter(app__in=visible_apps(user=user))
    if conference_id is not None:
        queryset = queryset.filter(conference_id=conference_id)
    if participant_id is not None:
        queryset = queryset.filter(participant_id=participant_id)
    return created_at.apply(queryset, default_window=False)
