"""Writes of rollups: a call's summary when it ends, its app's day, and
the rebuild of both.

``conference_summarize`` runs after the call ended (announced by
``api.ingest.services``, which also covers calls closed by
``cleanup_stale_conferences``): a handful of statements, then the day's row
updated under its row lock, so calls of one app ending at once add up.
``rollups_rebuild`` recomputes summaries in batches (five statements per
batch, whatever its size) and then each day from its summaries.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Avg, Count, Min

from api.calls.models import Conference, Connection, Session
from api.common import time as clock
from api.quality.models import Issue, TrackMetric
from api.quality.selectors import _setup_ms
from api.rollups import summaries
from api.rollups.models import AppDay, CallSummary

BATCH = 500


def _platform_names(platform: dict | None) -> tuple[str, str]:
    platform = platform or {}
    browser = platform.get("browser") or {}
    os = platform.get("os") or {}
    name = browser.get("name") or "unknown"
    major = browser.get("major") or (browser.get("version") or "").split(".")[0]
    return (f"{name} {major}".strip(), os.get("name") or "unknown")


def summaries_compute(*, conference_ids: list[uuid.UUID]) -> list[CallSummary]:
    """Unsaved summaries of the given ended conferences (ongoing or unknown
    ones are left out). Five statements for any number of conferences."""
    conferences = list(
        Conference.objects.filter(pk__in=conference_ids, ongoing=False).only(
            "id", "app_id", "start_time", "created_at", "end_time", "duration"
        )
    )
    if not conferences:
        return []
    ids = [c.pk for c in conferences]
    sessions: dict[Any, list[dict]] = defaultdict(list)
    for session in Session.objects.filter(conference_id__in=ids).values(
        "conference_id", "participant_id", "platform", "webrtc_sdk"
    ):
        sessions[session["conference_id"]].append(dict(session))
    connections: dict[Any, list[dict]] = defaultdict(list)
    connection_conference = {}
    for link in Connection.objects.filter(conference_id__in=ids).values(
        "id", "conference_id", "type", "connection_info"
    ):
        connections[link["conference_id"]].append(dict(link))
        connection_conference[link["id"]] = link["conference_id"]
    # Inbound quality per connection, aggregated in SQL (no sample leaves
    # the database): worst and average MOS, average video score.
    quality: dict[Any, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    metrics = (
        TrackMetric.objects.filter(
            connection_id__in=list(connection_conference), direction="inbound"
        )
        .values("connection_id", "kind")
        .annotate(
            mos_min=Min("mos"), mos_avg=Avg("mos"), mos_n=Count("mos"), video_avg=Avg("video_score")
        )
        .order_by()
    )
    for metric in metrics:
        found = quality[connection_conference[metric["connection_id"]]]
        if metric["kind"] == "audio" and metric["mos_min"] is not None:
            found["mos_min"].append(metric["mos_min"])
            found["mos_avg"].append((metric["mos_avg"], metric["mos_n"]))
        if metric["kind"] == "video" and metric["video_avg"] is not None:
            found["video_avg"].append(metric["video_avg"])
    issues: dict[Any, list[dict]] = defaultdict(list)
    for issue in Issue.objects.filter(conference_id__in=ids).values(
        "conference_id", "code", "type", "created_at", "resolved_at"
    ):
        issues[issue["conference_id"]].append(dict(issue))

    result = []
    for conference in conferences:
        result.append(
            _summary(
                conference,
                sessions=sessions[conference.pk],
                connections=connections[conference.pk],
                quality=quality.get(conference.pk, {}),
                issues=issues[conference.pk],
            )
        )
    return result


def _summary(
    conference: Conference,
    *,
    sessions: list[dict],
    connections: list[dict],
    quality: dict[str, list],
    issues: list[dict],
) -> CallSummary:
    start = conference.start_time or conference.created_at
    end = conference.end_time or start
    errors = sum(1 for i in issues if i["type"] == Issue.Type.ERROR)
    warnings = len(issues) - errors
    outcome = (
        CallSummary.Outcome.ERROR
        if errors
        else CallSummary.Outcome.WARNING
        if warnings
        else CallSummary.Outcome.GOOD
    )
    mos_min = min(quality["mos_min"]) if quality.get("mos_min") else None
    weights = sum(n for _, n in quality.get("mos_avg", []))
    mos_avg = round(sum(v * n for v, n in quality["mos_avg"]) / weights, 2) if weights else None
    videos = quality.get("video_avg") or []
    video_avg = round(sum(videos) / len(videos), 2) if videos else None
    issue_seconds = sum(
        ((i["resolved_at"] or end) - i["created_at"]).total_seconds() for i in issues
    )
    participants = len({s["participant_id"] for s in sessions})
    platforms = [_platform_names(s["platform"]) for s in sessions]
    setups = [ms for ms in (_setup_ms(c["connection_info"]) for c in connections) if ms is not None]
    codes = Counter(i["code"] for i in issues)
    contribution: dict[str, Any] = {
        "calls": {outcome.value: 1},
        "seconds": conference.duration,
        "participants": participants,
        "issues": dict(codes),
        "issue_calls": {code: 1 for code in codes},
        "mos": {summaries.score_bucket(mos_avg): 1} if mos_avg is not None else {},
        "video": {summaries.score_bucket(video_avg): 1} if video_avg is not None else {},
        "setup": dict(Counter(summaries.bucket(ms, summaries.SETUP_BUCKETS) for ms in setups)),
        "duration": {summaries.bucket(conference.duration, summaries.DURATION_BUCKETS): 1},
        "browsers": dict(Counter(browser for browser, _ in platforms)),
        "os": dict(Counter(os for _, os in platforms)),
        "sdk": dict(Counter((s["webrtc_sdk"] or "none") for s in sessions)),
        "network": dict(
            Counter(
                "relayed" if c["type"] == "relay" else "direct" if c["type"] else "unknown"
                for c in connections
            )
        ),
    }
    return CallSummary(
        conference=conference,
        app_id=conference.app_id,
        day=start.date(),
        start_time=start,
        end_time=conference.end_time,
        outcome=outcome,
        seconds=conference.duration,
        participants=participants,
        mos_min=mos_min,
        mos_avg=mos_avg,
        video_avg=video_avg,
        errors=errors,
        warnings=warnings,
        badness=summaries.badness(
            errors=errors,
            warnings=warnings,
            mos_min=mos_min,
            issue_seconds=issue_seconds,
            seconds=conference.duration,
        ),
        contribution=summaries.add({}, contribution),
    )


def conference_summarize(*, conference_id: uuid.UUID) -> CallSummary | None:
    """Summarise an ended conference and add it to its app's day (taking
    away what an earlier summary of it had added). Idempotent: summarising
    twice leaves the day as summarising once. Returns None (and changes
    nothing) while the conference is ongoing. Runs in one transaction; the
    day row is locked while it changes."""
    computed = summaries_compute(conference_ids=[conference_id])
    if not computed:
        return None
    summary = computed[0]
    with transaction.atomic():
        previous = (
            CallSummary.objects.select_for_update().filter(conference_id=conference_id).first()
        )
        if previous is not None:
            _day_add(app_id=previous.app_id, day=previous.day, part=previous.contribution, sign=-1)
        summary.save()
        _day_add(app_id=summary.app_id, day=summary.day, part=summary.contribution, sign=1)
    return summary


def _day_add(*, app_id: uuid.UUID, day: date, part: dict[str, Any], sign: int) -> None:
    row, _ = AppDay.objects.select_for_update().get_or_create(app_id=app_id, day=day)
    row.data = summaries.add(row.data or {}, part, sign)
    row.save(update_fields=["data", "updated_at"])


def rollups_rebuild(
    *, app_id: uuid.UUID | None = None, since: datetime | None = None, batch: int = BATCH
) -> tuple[int, int]:
    """Summarise again every ended conference (of ``app_id``, that started
    at or after ``since``) and recompute the days they are counted in from
    their summaries. Safe beside live traffic: each day is rewritten under
    its row lock from the summaries committed by then. Returns (calls, days)."""
    conferences = Conference.objects.filter(ongoing=False)
    if app_id is not None:
        conferences = conferences.filter(app_id=app_id)
    if since is not None:
        conferences = conferences.filter(created_at__gte=since)
    ids = list(conferences.order_by("pk").values_list("pk", flat=True))
    calls = 0
    for offset in range(0, len(ids), batch):
        computed = summaries_compute(conference_ids=ids[offset : offset + batch])
        with transaction.atomic():
            CallSummary.objects.filter(
                conference_id__in=[s.conference_id for s in computed]
            ).delete()
            CallSummary.objects.bulk_create(computed)
        calls += len(computed)
    days = CallSummary.objects.all()
    if app_id is not None:
        days = days.filter(app_id=app_id)
    if since is not None:
        days = days.filter(day__gte=since.date())
    pairs = sorted(set(days.values_list("app_id", "day")))
    for app, day in pairs:
        days_rebuild(app_id=app, day=day)
    return calls, len(pairs)


def days_rebuild(*, app_id: uuid.UUID, day: date) -> AppDay:
    """One app's day recomputed from its calls' summaries."""
    with transaction.atomic():
        row, _ = AppDay.objects.select_for_update().get_or_create(app_id=app_id, day=day)
        parts = CallSummary.objects.filter(app_id=app_id, day=day).values_list(
            "contribution", flat=True
        )
        row.data = summaries.merged(list(parts))
        row.save(update_fields=["data", "updated_at"])
    return row


def since_days(days: float) -> datetime:
    return clock.now() - timedelta(days=days)
