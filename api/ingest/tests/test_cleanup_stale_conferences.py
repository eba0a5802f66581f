"""``manage.py cleanup_stale_conferences``: conferences whose clients never
said goodbye are closed at their last activity, not at the time it runs
(the original billed the idle hours, reference §9.1 #11)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command

from api.calls import services
from api.calls.models import Conference, Connection, Session
from api.events import selectors
from api.events import services as events
from api.events.models import GenericEvent
from api.ingest.tests.fake_sdk import next_report, stats_report
from api.tenancy.models import AppUsageDay


def cleanup(*args: str) -> list[str]:
    out = io.StringIO()
    call_command("cleanup_stale_conferences", *args, stdout=out)
    return out.getvalue().splitlines()


def usage_seconds() -> int:
    return sum(AppUsageDay.objects.values_list("seconds", flat=True))


@pytest.fixture
def abandoned(page, clock):
    """A call in room-1 that went silent: alice and bob connected, stats for
    ten minutes, then both tabs vanished without a word."""
    alice = page("alice").join()
    bob = page("bob").join()
    started = clock.now
    alice_link = alice.add_connection("bob")
    bob_link = bob.add_connection("alice")
    report = stats_report()
    for _ in range(60):
        clock.advance(seconds=10)
        alice.stats(alice_link, report)
        bob.stats(bob_link, report)
        report = next_report(report)
    return {
        "started": started,
        "last": clock.now,
        "pages": (alice, bob),
        "links": (alice_link, bob_link),
    }


@pytest.mark.django_db
def test_nothing_ongoing_is_said_so(page):
    page("alice").join()

    assert cleanup() == ["No ongoing conferences found."]


@pytest.mark.django_db
def test_a_conference_with_recent_activity_is_left_alone(abandoned, clock):
    clock.advance(hours=3, minutes=59)

    assert cleanup() == ["1 ongoing conferences found, all have recent activity."]
    assert Conference.objects.get().ongoing is True


@pytest.mark.django_db
def test_a_stale_conference_is_closed_at_its_last_activity(abandoned, clock):
    # Given the call went silent six hours ago
    clock.advance(hours=6)
    last = abandoned["last"]
    conference = Conference.objects.get()

    # When the cleanup runs (default: CONFERENCE_TIMEOUT_HOURS = 4)
    output = cleanup()

    # Then it closed the conference at its last sample, not now
    assert output == [
        "Found 1 conferences with no activity for more than 4 hours.",
        f"  {conference.pk} (Conference room-1) - last activity 6:00:00 ago",
        "Closed 1 stale conferences.",
    ]
    conference.refresh_from_db()
    assert (conference.ongoing, conference.end_time, conference.call_start) == (False, last, None)
    assert conference.duration == 600
    for connection in Connection.objects.all():
        assert (connection.end_time, connection.duration) == (last, 600)
    for session in Session.objects.all():
        assert (session.end_time, session.call_start) == (last, None)
        assert session.duration == (last - session.created_at).total_seconds() // 1
    # Ten minutes per session billed, not six hours and ten minutes
    assert usage_seconds() == 2 * 600


@pytest.mark.django_db
def test_the_sdk_is_told_to_stop_once_its_conference_was_closed(abandoned, clock):
    clock.advance(hours=5)
    cleanup()
    alice, _ = abandoned["pages"]

    response = alice.stats(abandoned["links"][0], stats_report())

    assert response.json["error_code"] == "connection_ended"


@pytest.mark.django_db
@pytest.mark.parametrize("activity", ["event", "session", "connection"])
def test_every_kind_of_activity_counts(abandoned, page, clock, activity):
    # Given something happened an hour after the last stats sample
    latest = clock.advance(hours=1)
    alice, _ = abandoned["pages"]
    if activity == "event":
        alice.browser_event("custom", data={"still": "here"})
    elif activity == "session":
        page("carol").join()
    else:
        page("carol").join()
        alice.add_connection("carol", delta=0)

    # When the cleanup runs 4.5 hours after the sample, 3.5 after that
    clock.advance(hours=3, minutes=30)
    assert cleanup() == ["1 ongoing conferences found, all have recent activity."]

    # And later it closes the conference at that activity
    clock.advance(hours=1)
    cleanup()
    assert Conference.objects.get().end_time == latest


@pytest.mark.django_db
def test_only_the_stale_conferences_are_closed(abandoned, page, clock):
    # Given a second call that is alive
    clock.advance(hours=5)
    dave = page("dave", conference_id="room-2").join()
    page("erin", conference_id="room-2").join()
    dave.add_connection("erin")
    stale = Conference.objects.get(conference_id="room-1")

    output = cleanup()

    assert output[0] == "Found 1 conferences with no activity for more than 4 hours."
    assert output[1].startswith(f"  {stale.pk} (Conference room-1)")
    assert Conference.objects.get(conference_id="room-1").ongoing is False
    assert Conference.objects.get(conference_id="room-2").ongoing is True
    assert Connection.objects.filter(end_time__isnull=True).count() == 1


@pytest.mark.django_db
def test_hours_can_be_given(abandoned, clock):
    clock.advance(hours=1, minutes=45)

    assert cleanup("--hours", "2") == ["1 ongoing conferences found, all have recent activity."]
    output = cleanup("--hours", "1.5")

    assert output[0] == "Found 1 conferences with no activity for more than 1.5 hours."
    assert Conference.objects.get().end_time == abandoned["last"]


@pytest.mark.django_db
def test_a_dry_run_lists_and_changes_nothing(abandoned, clock):
    clock.advance(hours=6)
    before = (
        list(Conference.objects.values()),
        list(Connection.objects.order_by("pk").values()),
        list(Session.objects.order_by("pk").values()),
        usage_seconds(),
    )

    output = cleanup("--dry-run")

    assert output[0] == "Found 1 conferences with no activity for more than 4 hours."
    assert output[-1] == "Dry run: 1 conferences would be closed, none was."
    after = (
        list(Conference.objects.values()),
        list(Connection.objects.order_by("pk").values()),
        list(Session.objects.order_by("pk").values()),
        usage_seconds(),
    )
    assert after == before


@pytest.mark.django_db
def test_a_conference_that_fails_to_close_does_not_stop_the_others(
    abandoned, page, clock, monkeypatch, caplog
):
    # Given two stale conferences, one of which cannot be closed
    dave = page("dave", conference_id="room-2").join()
    page("erin", conference_id="room-2").join()
    dave.add_connection("erin")
    clock.advance(hours=6)
    broken = Conference.objects.get(conference_id="room-1")
    stop = services.conference_stop

    def failing_stop(*, conference, at):
        if conference.pk == broken.pk:
            raise RuntimeError("disk full")
        return stop(conference=conference, at=at)

    monkeypatch.setattr(services, "conference_stop", failing_stop)
    out = io.StringIO()

    # When the cleanup runs, it reports the failure with a non-zero exit
    with pytest.raises(CommandError, match="1 stale conferences could not be closed"):
        call_command("cleanup_stale_conferences", stdout=out)

    # And still closed the other one
    assert out.getvalue().splitlines()[-1] == "Closed 1 stale conferences. 1 failed."
    assert Conference.objects.get(conference_id="room-2").ongoing is False
    assert Conference.objects.get(conference_id="room-1").ongoing is True
    assert "could not close stale conference" in caplog.text


@pytest.mark.django_db
def test_a_conference_that_woke_up_after_it_was_found_is_left_alone(abandoned, clock):
    # Given the cleanup found the conference stale
    clock.advance(hours=5)
    idle_since = clock.now - timedelta(hours=4)
    _, stale = selectors.conferences_stale(idle_since=idle_since)
    assert [c.conference_id for c, _ in stale] == ["room-1"]

    # When a participant speaks up before it is closed
    alice, _ = abandoned["pages"]
    alice.browser_event("custom", data={"back": True})

    # Then it is not closed
    assert (
        events.conference_close_stale(conference_id=stale[0][0].pk, idle_since=idle_since) is None
    )
    assert Conference.objects.get().ongoing is True


@pytest.mark.django_db
def test_finding_stale_conferences_is_one_query(abandoned, page, clock, django_assert_num_queries):
    for room in ("room-2", "room-3"):
        dave = page("dave", conference_id=room).join()
        page("erin", conference_id=room).join()
        dave.add_connection("erin")
    clock.advance(hours=6)

    with django_assert_num_queries(1):
        ongoing, stale = selectors.conferences_stale(idle_since=clock.now - timedelta(hours=4))

    assert (ongoing, len(stale)) == (3, 3)
    assert [c.conference_id for c, _ in stale][0] == "room-1"  # the longest idle first


@pytest.mark.django_db
def test_hours_must_be_positive(abandoned):
    with pytest.raises(CommandError):
        cleanup("--hours", "0")
    assert GenericEvent.objects.exists()
