"""Aggregates for the dashboard's overview pages (reference §5.3).

Each summary is computed over the conferences, sessions, connections or
issues of the caller's apps (or of one app) created in a window, 30 days
by default. Counting happens in SQL where it is a plain count; where it
reads JSON (platforms, negotiations, getUserMedia errors) the rows are
streamed once and folded in Python, which works the same on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import TruncDate

from api.calls.models import Conference, Connection, Session
from api.quality.catalogue import issue_title
from api.quality.models import Issue
from api.query.selectors.calls import participants_counted
from api.query.selectors.scope import CreatedAt, visible_apps
from api.tenancy.models import User

_ITERATOR_CHUNK = 2000

DURATION_BUCKETS = [
    ("< 1 m", 0, 60),
    ("1 - 3 m", 60, 180),
    ("3 - 5 m", 180, 300),
    ("5 - 10 m", 300, 600),
    ("10 - 15 m", 600, 900),
    ("15 - 20 m", 900, 1200),
    ("20 - 25 m", 1200, 1500),
    ("25 - 30 m", 1500, 1800),
    ("30 - 40 m", 1800, 2400),
    ("40 - 50 m", 2400, 3000),
    ("50 - 60 m", 3000, 3600),
    ("> 60 m", 3600, None),
]

SETUP_TIME_BUCKETS = [
    ("< 250 ms", 0, 250),
    ("250 - 500 ms", 250, 500),
    ("500 - 750 ms", 500, 750),
    ("750 - 1000 ms", 750, 1000),
    ("1000 - 1500 ms", 1000, 1500),
    ("1500 - 2000 ms", 1500, 2000),
    ("2000 - 2500 ms", 2000, 2500),
    ("2500 - 3000 ms", 2500, 3000),
    ("3000 - 4000 ms", 3000, 4000),
    ("4000 - 5000 ms", 4000, 5000),
    ("> 5000 ms", 5000, None),
]


@dataclass(frozen=True)
class Scope:
    """The rows a summary covers: the caller's apps (or one of them) and a
    ``created_at`` window."""

    user: User
    app_id: uuid.UUID | None
    created_at: CreatedAt

    def of(self, queryset: QuerySet) -> QuerySet:
        queryset = queryset.filter(app__in=visible_apps(user=self.user))
        if self.app_id is not None:
            queryset = queryset.filter(app_id=self.app_id)
        return self.created_at.apply(queryset, default_window=True)


def conference_summary(*, scope: Scope) -> list[dict[str, Any]]:
    """Per UTC day: conferences ongoing, with an error, with a warning (and
    no error), and the others (success)."""
    issues = Issue.objects.filter(conference=OuterRef("pk"))
    rows = (
        scope.of(Conference.objects.all())
        .annotate(
            day=TruncDate("created_at", tzinfo=UTC),
            has_error=Exists(issues.filter(type=Issue.Type.ERROR)),
            has_warning=Exists(issues.filter(type=Issue.Type.WARNING)),
        )
        .values_list("day", "ongoing", "has_error", "has_warning")
    )
    days: dict[str, Counter] = {}
    for day, ongoing, has_error, has_warning in rows.iterator(chunk_size=_ITERATOR_CHUNK):
        if ongoing:
            status = "ongoing"
        elif has_error:
            status = "error"
        elif has_warning:
            status = "warning"
        else:
            status = "success"
        days.setdefault(day.isoformat(), Counter())[status] += 1
    return [
        {
            "date": day,
            "success": counts["success"],
            "warning": counts["warning"],
            "error": counts["error"],
            "ongoing": counts["ongoing"],
            "total": sum(counts.values()),
        }
        for day, counts in sorted(days.items())
    ]


def duration_summary(*, scope: Scope) -> list[dict[str, Any]]:
    """Conferences per duration bucket, all twelve buckets, in one query."""
    counts = scope.of(Conference.objects.all()).aggregate(
        **{
            f"b{index}": Count(
                "pk",
                filter=Q(duration__gte=low) & (Q(duration__lt=high) if high is not None else Q()),
            )
            for index, (_, low, high) in enumerate(DURATION_BUCKETS)
        }
    )
    return [
        {"range": label, "min_sec": low, "max_sec": high, "count": counts[f"b{index}"]}
        for index, (label, low, high) in enumerate(DURATION_BUCKETS)
    ]


def participant_count_summary(*, scope: Scope) -> dict[str, Any]:
    """How many conferences had n participants (non-SFU, with a session),
    ascending n; conferences nobody joined count under 0."""
    rows = (
        scope.of(Conference.objects.all())
        .annotate(n=participants_counted())
        .values_list("n", flat=True)
    )
    counts = Counter(rows.iterator(chunk_size=_ITERATOR_CHUNK))
    return {
        "data": [{"participants": n, "conferences": c} for n, c in sorted(counts.items())],
        "total_conferences": sum(counts.values()),
    }


def issue_summary(*, scope: Scope) -> list[dict[str, Any]]:
    rows = (
        scope.of(Issue.objects.all())
        .values("code")
        .annotate(count=Count("pk"))
        .order_by("-count", "code")
    )
    return [
        {"code": row["code"], "title": issue_title(row["code"]), "count": row["count"]}
        for row in rows
    ]


def gum_summary(*, scope: Scope) -> dict[str, Any]:
    """getUserMedia failures by error name (``NotAllowedError``, ...), the
    most common first, with the first message seen for each name."""
    rows = (
        scope.of(Issue.objects.filter(code="getusermedia_error"))
        .order_by("created_at", "pk")
        .values_list("data", flat=True)
    )
    counts: Counter = Counter()
    messages: dict[str, str] = {}
    for data in rows.iterator(chunk_size=_ITERATOR_CHUNK):
        if not isinstance(data, dict):
            continue
        # The evidence is either the browser's error or wraps it.
        error: dict = data["error"] if isinstance(data.get("error"), dict) else data
        name = error.get("name")
        name = name if isinstance(name, str) and name else "Unknown"
        counts[name] += 1
        message = error.get("message")
        if not messages.get(name) and isinstance(message, str) and message:
            messages[name] = message
    data = [
        {"name": name, "message": messages.get(name, ""), "count": count}
        for name, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]
    return {"data": data, "total": sum(counts.values())}


def connection_summary(*, scope: Scope) -> list[dict[str, Any]]:
    """Direct versus relayed (TURN) connections; connections whose type is
    not known yet are left out."""
    counts = scope.of(Connection.objects.filter(type__isnull=False)).aggregate(
        relayed=Count("pk", filter=Q(type=Connection.Type.RELAY)),
        direct=Count("pk", filter=~Q(type=Connection.Type.RELAY)),
    )
    return [
        {"name": "Direct", "count": counts["direct"]},
        {"name": "Relayed", "count": counts["relayed"]},
    ]


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _setup_ms(connection_info: Any) -> float | None:
    """Milliseconds from offer to connected of the first negotiation, if
    that one connected."""
    if not isinstance(connection_info, dict):
        return None
    negotiations = connection_info.get("negotiations")
    if not isinstance(negotiations, list) or not negotiations:
        return None
    first = negotiations[0]
    if not isinstance(first, dict) or first.get("status") != "connected":
        return None
    start, end = _parse_time(first.get("start_time")), _parse_time(first.get("end_time"))
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds() * 1000)


def setup_time_summary(*, scope: Scope) -> list[dict[str, Any]]:
    counts = [0 for _ in SETUP_TIME_BUCKETS]
    conference_ids: list[list[str]] = [[] for _ in SETUP_TIME_BUCKETS]
    seen: list[set] = [set() for _ in SETUP_TIME_BUCKETS]
    rows = (
        scope.of(Connection.objects.all())
        .order_by("created_at", "pk")
        .values_list("conference_id", "connection_info")
    )
    for conference_id, info in rows.iterator(chunk_size=_ITERATOR_CHUNK):
        ms = _setup_ms(info)
        if ms is None:
            continue
        for index, (_, low, high) in enumerate(SETUP_TIME_BUCKETS):
            if ms >= low and (high is None or ms < high):
                counts[index] += 1
                if conference_id not in seen[index]:
                    seen[index].add(conference_id)
                    conference_ids[index].append(str(conference_id))
                break
    return [
        {
            "range": label,
            "min_ms": low,
            "max_ms": high,
            "count": counts[index],
            "conference_ids": conference_ids[index],
        }
        for index, (label, low, high) in enumerate(SETUP_TIME_BUCKETS)
    ]


def _name_of(value: Any) -> str:
    if isinstance(value, dict) and isinstance(value.get("name"), str) and value["name"]:
        return value["name"]
    return "Unknown"


def _coordinate(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if -180.0 <= number <= 180.0 else None


def session_summary(*, scope: Scope) -> dict[str, Any]:
    """Browsers, operating systems, countries and cities of the sessions."""
    browsers: Counter = Counter()
    systems: Counter = Counter()
    countries: Counter = Counter()
    cities: dict[tuple, dict[str, Any]] = {}
    rows = (
        scope.of(Session.objects.all())
        .order_by("created_at", "pk")
        .values_list("platform", "geo_ip")
    )
    for platform, geo in rows.iterator(chunk_size=_ITERATOR_CHUNK):
        if isinstance(platform, dict) and platform:
            browsers[_name_of(platform.get("browser"))] += 1
            systems[_name_of(platform.get("os"))] += 1
        if not isinstance(geo, dict):
            continue
        code = geo.get("country_code")
        if isinstance(code, str) and code:
            countries[code] += 1
        city = geo.get("city")
        latitude, longitude = _coordinate(geo.get("latitude")), _coordinate(geo.get("longitude"))
        if (
            isinstance(city, str)
            and city
            and latitude is not None
            and longitude is not None
            and (latitude, longitude) != (0.0, 0.0)
        ):
            key = (code, city)
            if key not in cities:
                cities[key] = {
                    "city": city,
                    "latitude": latitude,
                    "longitude": longitude,
                    "count": 0,
                }
            cities[key]["count"] += 1

    def ranked(counter: Counter, key: str) -> list[dict[str, Any]]:
        return [
            {key: name, "count": count}
            for name, count in sorted(counter.items(), key=lambda item: (-item[1], item[0]))
        ]

    return {
        "browsers": ranked(browsers, "name"),
        "os": ranked(systems, "name"),
        "countries": ranked(countries, "code"),
        "cities": list(cities.values()),
    }
