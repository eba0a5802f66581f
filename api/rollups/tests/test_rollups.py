"""Rollups follow the calls: a call is summarised when it ends (by its
clients or by the stale-call cleanup), its app's day adds it up exactly
once, and ``rebuild_rollups`` recomputes the same numbers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command

from api.calls.models import Conference, Session
from api.ingest.tests.test_replay_captured_calls import replay
from api.quality.models import Issue
from api.rollups.models import AppDay, CallSummary
from api.rollups.services import conference_summarize, rollups_rebuild
from api.rollups.summaries import add


@pytest.mark.django_db
def test_a_replayed_sdk_call_is_summarised_when_it_ends(
    sdk, app, monkeypatch, captured_call, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        replay(sdk, monkeypatch, captured_call("call-2-participants.json"))

    conference = Conference.objects.get()
    summary = CallSummary.objects.get(conference=conference)
    day = AppDay.objects.get(app=app, day=summary.day)
    issues = Issue.objects.filter(conference=conference)
    assert summary.participants == Session.objects.values("participant").distinct().count() == 2
    assert summary.seconds == conference.duration
    assert day.data["calls"] == {summary.outcome: 1}
    assert day.data["seconds"] == conference.duration
    assert sum(day.data.get("issues", {}).values()) == issues.count()
    assert summary.mos_min is not None and 1 <= summary.mos_min <= 5
    assert day.data["browsers"] == {"Chrome Headless 156": 2}


@pytest.mark.django_db
def test_summarising_again_and_rebuilding_leave_the_same_day(
    sdk, app, monkeypatch, captured_call, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        replay(sdk, monkeypatch, captured_call("call-3-participants.json"))
    conference = Conference.objects.get()
    before = AppDay.objects.get(app=app).data

    conference_summarize(conference_id=conference.pk)
    assert AppDay.objects.get(app=app).data == before

    AppDay.objects.all().delete()
    CallSummary.objects.all().delete()
    call_command("rebuild_rollups", "--app", str(app.pk))
    assert AppDay.objects.get(app=app).data == before
    assert rollups_rebuild(app_id=app.pk) == (1, 1)


@pytest.mark.django_db
def test_a_stale_call_closed_by_the_cleanup_is_summarised(
    sdk, app, monkeypatch, captured_call, django_capture_on_commit_callbacks
):
    call = captured_call("call-2-participants.json")
    # The call without its goodbyes: it stays ongoing.
    call["requests"] = [
        r
        for r in call["requests"]
        if (r["body"].get("eventName") or r["body"].get("event"))
        not in ("endCall", "removeConnection")
        and not (r["path"] == "/v1/connection" and "closed" in str(r["body"].get("data")))
    ]
    replay(sdk, monkeypatch, call)
    conference = Conference.objects.get()
    if not conference.ongoing:
        pytest.skip("the captured call ends without its goodbyes too")
    assert not CallSummary.objects.exists()

    import api.common.time as clock

    later = clock.now() + timedelta(hours=5)
    monkeypatch.setattr("api.common.time.now", lambda: later)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("cleanup_stale_conferences")

    assert CallSummary.objects.filter(conference=conference).exists()
    assert AppDay.objects.get(app=app).data["calls"]


def test_counters_add_and_take_away_exactly():
    day = add({}, {"calls": {"good": 1}, "seconds": 30, "issues": {"x": 2}})
    add(day, {"calls": {"error": 1}, "seconds": 10, "issues": {"x": 1, "y": 1}})
    add(day, {"calls": {"good": 1}, "seconds": 30, "issues": {"x": 2}}, sign=-1)

    assert day == {"calls": {"error": 1}, "seconds": 10, "issues": {"x": 1, "y": 1}}


def test_the_scheduler_rebuilds_the_last_two_days_every_hour():
    from api.common.scheduling import Every, scheduled_commands

    assert (
        Every(command="rebuild_rollups", minutes=60, args=("--days", "2")) in scheduled_commands()
    )
