"""Page-shaped reads of the dashboard: each returns what one page or
partial shows, in a fixed number of statements (pinned by the tests)."""

from __future__ import annotations

import base64
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from api.calls.models import Conference, ConferenceParticipant, Connection, Participant, Session
from api.common import time as clock
from api.dashboard.verdicts import IssueFact, call_reason
from api.events.models import GenericEvent
from api.quality.models import Issue
from api.rollups.models import CallSummary
from api.rollups.selectors import range_totals, worst_calls
from api.tenancy.models import App

PAGE_SIZE = 25
# The calls list filtered by participant looks among their latest this many calls.
PARTICIPANT_CALLS = 10_000
EVENTS_PAGE = 50
RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


# ------------------------------------------------------------------ ranges


@dataclass(frozen=True)
class Range:
    key: str
    start: datetime
    end: datetime

    @property
    def last_day(self) -> date:
        """The last day of a custom range (its end is the next midnight)."""
        return (self.end - timedelta(days=1)).date()

    @property
    def query(self) -> str:
        """The range as URL parameters, for links to other pages."""
        if self.key != "custom":
            return f"range={self.key}"
        return f"range=custom&from={self.start.date().isoformat()}&to={self.last_day.isoformat()}"


def range_parse(params: dict[str, str]) -> Range:
    """``range=24h|7d|30d`` (default 24h) or ``range=custom&from=YYYY-MM-DD&to=YYYY-MM-DD``
    (whole UTC days, ``to`` included). Bad values fall back to the default."""
    key = params.get("range") or "24h"
    end = clock.now()
    if key == "custom":
        try:
            start = datetime.fromisoformat(params.get("from", "")).replace(tzinfo=UTC)
            last = datetime.fromisoformat(params.get("to", "")).replace(tzinfo=UTC)
        except ValueError:
            key = "24h"
        else:
            if last >= start and last - start <= timedelta(days=400):
                return Range(key, start, last + timedelta(days=1))
            key = "24h"
    if key not in RANGES:
        key = "24h"
    return Range(key, end - RANGES[key], end)


# ---------------------------------------------------------------- overview


def _facts_of(conference_ids: list) -> dict[Any, list[IssueFact]]:
    facts: dict[Any, list[IssueFact]] = defaultdict(list)
    rows = Issue.objects.filter(conference_id__in=conference_ids).values(
        "conference_id",
        "code",
        "type",
        "participant_id",
        "peak_value",
        "created_at",
        "resolved_at",
        "data",
        "cause_id",
    )
    for row in rows:
        facts[row["conference_id"]].append(IssueFact.of(row))
    return facts


def overview(*, app: App, when: Range) -> dict[str, Any]:
    """The app overview: totals and per-day counters of the range (from the
    rollups), the calls going on now, the worst calls with their reason.
    Four statements."""
    totals = range_totals(app_id=app.pk, start=when.start, end=when.end)
    ongoing = Conference.objects.filter(app=app, ongoing=True).count()
    worst = list(worst_calls(app_id=app.pk, start=when.start, end=when.end))
    facts = _facts_of([s.conference_id for s in worst]) if worst else {}
    worst_rows = [
        {
            "summary": s,
            "conference": s.conference,
            "reason": call_reason(
                issues=facts.get(s.conference_id, []),
                participants=s.participants,
                end=s.end_time,
            ),
        }
        for s in worst
    ]
    total = totals["total"]
    calls = total.get("calls", {})
    return {
        "total": total,
        "calls": {
            "good": calls.get("good", 0),
            "warning": calls.get("warning", 0),
            "error": calls.get("error", 0),
            "ongoing": ongoing,
            "ended": sum(calls.values()),
        },
        "minutes": round(total.get("seconds", 0) / 60),
        "days": totals["days"],
        "worst": worst_rows,
    }


def app_has_calls(*, app: App) -> bool:
    return Conference.objects.filter(app=app).exists()


# --------------------------------------------------------------- calls list


@dataclass(frozen=True)
class CallFilters:
    when: Range
    outcome: str = ""
    code: str = ""
    participant: str = ""
    min_duration: int | None = None
    ongoing: bool = False
    q: str = ""


def _cursor_encode(row: Any) -> str:
    raw = f"{row.created_at.isoformat()}|{row.pk}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _cursor_decode(cursor: str) -> tuple[datetime, uuid.UUID] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, pk = raw.split("|", 1)
        return datetime.fromisoformat(at), uuid.UUID(pk)
    except (ValueError, UnicodeDecodeError):
        return None


def keyset_page(
    queryset: QuerySet, *, cursor: str, size: int, newest_first: bool
) -> tuple[list[Any], str | None]:
    """One page of ``queryset`` in (created_at, id) order after the row the
    cursor names, and the cursor of the next page (None on the last): a page
    costs the same however deep it is. A malformed cursor starts at the top."""
    position = _cursor_decode(cursor) if cursor else None
    if position is not None:
        at, pk = position
        if newest_first:
            queryset = queryset.filter(Q(created_at__lt=at) | Q(created_at=at, pk__lt=pk))
        else:
            queryset = queryset.filter(Q(created_at__gt=at) | Q(created_at=at, pk__gt=pk))
    order = ("-created_at", "-pk") if newest_first else ("created_at", "pk")
    page = list(queryset.order_by(*order)[: size + 1])
    more = len(page) > size
    page = page[:size]
    return page, (_cursor_encode(page[-1]) if more and page else None)


def calls_page(
    *, app: App, filters: CallFilters, cursor: str = "", size: int = PAGE_SIZE
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the app's calls, newest first, and the cursor of the next
    page (None on the last). Keyset pagination on (created_at, id): a page
    costs the same however deep it is. Three statements."""
    calls = Conference.objects.filter(
        app=app, created_at__gte=filters.when.start, created_at__lt=filters.when.end
    ).select_related("summary")
    if filters.ongoing or filters.outcome == "ongoing":
        calls = calls.filter(ongoing=True)
    elif filters.outcome in ("good", "warning", "error"):
        calls = calls.filter(summary__outcome=filters.outcome, ongoing=False)
    if filters.code:
        calls = calls.filter(
            Exists(Issue.objects.filter(conference_id=OuterRef("pk"), code=filters.code))
        )
    if filters.participant:
        # The calls of the few participants so named, read first (one more
        # statement): as a subquery the planner probes every call of the
        # range for them instead.
        named = Q(participant__participant_id=filters.participant) | Q(
            participant__participant_name__iexact=filters.participant
        )
        conference_ids = list(
            ConferenceParticipant.objects.filter(named, participant__app=app)
            .order_by("-created_at")
            .values_list("conference_id", flat=True)[:PARTICIPANT_CALLS]
        )
        calls = calls.filter(pk__in=conference_ids)
    if filters.min_duration:
        calls = calls.filter(duration__gte=filters.min_duration)
    if filters.q:
        calls = calls.filter(
            Q(conference_id__icontains=filters.q) | Q(conference_name__icontains=filters.q)
        )
    page, next_cursor = keyset_page(calls, cursor=cursor, size=size, newest_first=True)
    ids = [c.pk for c in page]
    badges: dict[Any, dict[str, dict]] = defaultdict(dict)
    counts: dict[Any, int] = {}
    if ids:
        for row in (
            Issue.objects.filter(conference_id__in=ids)
            .values("conference_id", "code", "type")
            .annotate(n=Count("id"))
            .order_by("conference_id", "code")
        ):
            badge = badges[row["conference_id"]].setdefault(
                row["code"], {"n": 0, "type": "warning"}
            )
            badge["n"] += row["n"]
            if row["type"] == "error":
                badge["type"] = "error"
        counts = dict(
            ConferenceParticipant.objects.filter(conference_id__in=ids)
            .values("conference_id")
            .annotate(n=Count("id"))
            .values_list("conference_id", "n")
        )
    rows = []
    for conference in page:
        summary = getattr(conference, "summary", None)
        found = badges.get(conference.pk, {})
        rows.append(
            {
                "conference": conference,
                "outcome": _outcome(conference, summary, found),
                "participants": counts.get(conference.pk, 0),
                "mos_min": summary.mos_min if summary else None,
                "badges": sorted(
                    found.items(), key=lambda item: (item[1]["type"] != "error", item[0])
                ),
            }
        )
    return rows, next_cursor


def _outcome(conference: Conference, summary: CallSummary | None, badges: dict) -> str:
    if conference.ongoing:
        return "ongoing"
    if summary is not None:
        return summary.outcome
    types = {badge["type"] for badge in badges.values()}
    return "error" if "error" in types else "warning" if types else "good"


# --------------------------------------------------------------- call page


# Events the timeline shows (the raw list has all of them).
TIMELINE_TYPES = {
    "getUserMedia",
    "getUserMediaError",
    "mute",
    "unmute",
    "custom",
    "addConnection",
    "removeConnection",
    "oniceconnectionstatechange",
    "onconnectionstatechange",
    "endCall",
    "tabFocus",
    "mediaDeviceChange",
}
TIMELINE_LIMIT = 2000


def _at(start: datetime, span: float, value: datetime | None) -> float:
    if value is None:
        return 100.0
    return round(min(max((value - start).total_seconds() / span * 100.0, 0.0), 100.0), 2)


def call_live(*, conference: Conference) -> dict[str, Any]:
    """What updates while a call runs: its sessions and participants, the
    issues, the timeline. Four statements."""
    sessions = list(
        Session.objects.filter(conference=conference)
        .select_related("participant")
        .order_by("created_at", "pk")
    )
    connections = list(
        Connection.objects.filter(conference=conference)
        .select_related("peer")
        .order_by("created_at", "pk")
    )
    issues = list(
        Issue.objects.filter(conference=conference)
        .select_related("participant")
        .order_by("created_at", "pk")
    )
    events = list(
        GenericEvent.objects.filter(conference=conference, type__in=TIMELINE_TYPES)
        .order_by("created_at", "pk")
        .values("session_id", "type", "category", "created_at", "data")[:TIMELINE_LIMIT]
    )
    start = conference.start_time or conference.created_at
    end = conference.end_time if not conference.ongoing and conference.end_time else clock.now()
    span = max((end - start).total_seconds(), 1.0)
    participants: dict[Any, dict[str, Any]] = {}
    for session in sessions:
        entry = participants.setdefault(
            session.participant_id,
            {"participant": session.participant, "sessions": [], "marks": [], "bars": []},
        )
        entry["sessions"].append(
            {
                "session": session,
                "browser": _browser(session.platform),
                "os": ((session.platform or {}).get("os") or {}).get("name") or "",
                "devices": [
                    d.get("label") or d.get("kind")
                    for d in (session.devices or [])
                    if isinstance(d, dict)
                ],
                "connections": [c for c in connections if c.session_id == session.pk],
                "left": _at(start, span, session.created_at),
                "width": max(
                    _at(start, span, session.end_time) - _at(start, span, session.created_at), 0.6
                ),
            }
        )
    by_session = {s.pk: s.participant_id for s in sessions}
    for event in events:
        owner = participants.get(by_session.get(event["session_id"]))
        if owner is None:
            continue
        data = event["data"] if isinstance(event["data"], dict) else {}
        label = event["type"]
        if event["type"] in ("oniceconnectionstatechange", "onconnectionstatechange"):
            label = f"{'ice ' if 'ice' in event['type'] else ''}{data.get('state') or data.get('iceConnectionState') or data.get('connectionState') or event['type']}"
        elif event["type"] == "custom":
            label = str(data.get("eventName") or data.get("name") or "custom")
        owner["marks"].append(
            {
                "at": _at(start, span, event["created_at"]),
                "time": event["created_at"],
                "label": label,
                "category": event["category"],
            }
        )
    for issue in issues:
        owner = participants.get(issue.participant_id)
        if owner is not None:
            left = _at(start, span, issue.created_at)
            owner["bars"].append(
                {
                    "issue": issue,
                    "left": left,
                    "width": max(_at(start, span, issue.resolved_at) - left, 0.6),
                }
            )
    facts = [IssueFact.of(issue) for issue in issues]
    return {
        "conference": conference,
        "start": start,
        "end": end,
        "elapsed": int((end - start).total_seconds()),
        "participants": list(participants.values()),
        "connections": connections,
        "issues": issues,
        "open_issues": sum(1 for i in issues if i.resolved_at is None),
        "reason": call_reason(issues=facts, participants=len(participants), end=end),
    }


def _browser(platform: dict | None) -> str:
    browser = (platform or {}).get("browser") or {}
    return f"{browser.get('name') or ''} {browser.get('version') or ''}".strip()


def events_page(
    *, conference: Conference, after: str = "", size: int = EVENTS_PAGE
) -> tuple[list[GenericEvent], str | None]:
    """Raw events of a call, oldest first, keyset-paginated on (created_at, id).
    One statement."""
    events = GenericEvent.objects.filter(conference=conference).select_related("participant")
    return keyset_page(events, cursor=after, size=size, newest_first=False)


# --------------------------------------------------------- participant page


def participant_page(*, participant: Participant, limit: int = 100) -> dict[str, Any]:
    """The participant's last sessions with their calls' outcomes, the
    quality of those calls over time and the devices and platforms seen.
    Two statements."""
    sessions = list(
        Session.objects.filter(participant=participant)
        .select_related("conference", "conference__summary")
        .order_by("-created_at", "-pk")[:limit]
    )
    issues = dict(
        Issue.objects.filter(participant=participant, session__in=[s.pk for s in sessions])
        .values("session_id")
        .annotate(n=Count("id"))
        .values_list("session_id", "n")
    )
    platforms: dict[str, int] = defaultdict(int)
    devices: dict[str, int] = defaultdict(int)
    for session in sessions:
        platforms[
            f"{_browser(session.platform)} · {((session.platform or {}).get('os') or {}).get('name') or '?'}"
        ] += 1
        for device in session.devices or []:
            if isinstance(device, dict) and device.get("label"):
                devices[f"{device.get('kind')}: {device['label']}"] += 1
    quality = [
        [
            int(s.created_at.timestamp()),
            getattr(s.conference, "summary", None) and s.conference.summary.mos_avg,
        ]
        for s in reversed(sessions)
    ]
    return {
        "sessions": [{"session": s, "issues": issues.get(s.pk, 0)} for s in sessions],
        "platforms": sorted(platforms.items(), key=lambda i: -i[1]),
        "devices": sorted(devices.items(), key=lambda i: -i[1]),
        "quality": quality,
    }


# -------------------------------------------------------------- issues page


def issues_page(*, app: App, when: Range, limit: int = 50) -> dict[str, Any]:
    """Issues of the app's calls in the range, by code and severity (open and
    resolved counts, calls hit), and the open issues now. Two statements."""
    in_range = Issue.objects.filter(app=app, created_at__gte=when.start, created_at__lt=when.end)
    groups = list(
        in_range.values("code", "type")
        .annotate(
            total=Count("id"),
            open=Count("id", filter=Q(resolved_at__isnull=True)),
            calls=Count("conference_id", distinct=True),
        )
        .order_by("-total", "code")
    )
    open_now: QuerySet[Issue] = (
        Issue.objects.filter(app=app, resolved_at__isnull=True)
        .select_related("conference", "participant")
        .order_by("-created_at")[:limit]
    )
    return {"groups": groups, "open": list(open_now)}
