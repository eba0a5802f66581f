"""The lifecycle of a call (reference §4, with its §9.1 bugs fixed), driven
through the SDK endpoints on a test clock: when a conference is ongoing and
for how long, when sessions and connections end, the connection's state,
type and negotiations, and the connected seconds billed per UTC day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.calls.models import Conference, Connection, Session
from api.events.models import GenericEvent, StatsSample
from api.ingest.tests.fake_sdk import next_report, stats_report
from api.tenancy.models import AppUsageDay

CONNECTION_ENDED = {
    "error_code": "connection_ended",
    "message": "This connection has ended and we are no longer listening for events.",
}


def conference() -> Conference:
    return Conference.objects.get()


def usage() -> dict:
    return {str(u.day): u.seconds for u in AppUsageDay.objects.order_by("day")}


@pytest.fixture
def hooks(monkeypatch, transactional_db):
    """Calls of the quality hooks that mark the end of a session or of a
    conference (they must run once per end). Some run when the request's
    transaction commits, so the test commits for real."""
    calls: dict[str, list] = {"session_ended": [], "conference_ended": []}
    monkeypatch.setattr(
        "api.quality.services.session_ended",
        lambda *, session, at: calls["session_ended"].append((session.pk, at)),
    )
    monkeypatch.setattr(
        "api.quality.services.conference_ended",
        lambda *, conference, at: calls["conference_ended"].append((conference.pk, at)),
    )
    return calls


# ------------------------------------------------------------- conference


@pytest.mark.django_db
def test_a_conference_nobody_connects_in_never_starts(page):
    page("alice").join()
    page("bob").join()

    c = conference()
    assert (c.ongoing, c.start_time, c.call_start, c.end_time, c.duration) == (
        False,
        None,
        None,
        None,
        0,
    )


@pytest.mark.django_db
def test_the_first_connection_starts_the_conference_and_the_sessions_call(page, clock):
    alice = page("alice").join()
    bob = page("bob").join()
    first = clock.advance(seconds=3)

    alice.add_connection("bob")
    clock.advance(seconds=1)
    bob.add_connection("alice")

    c = conference()
    assert c.ongoing is True
    assert c.start_time == c.call_start == first
    assert c.end_time is None
    assert alice.session.call_start == first
    assert bob.session.call_start == first + timedelta(seconds=1)


@pytest.mark.django_db
def test_the_conference_ends_when_its_last_connection_ends(page, clock, hooks):
    # Given alice and bob connected to each other
    alice = page("alice").join()
    bob = page("bob").join()
    start = clock.now
    alice_link = alice.add_connection("bob")
    bob_link = bob.add_connection("alice")

    # When alice closes her connection, the call goes on
    clock.advance(seconds=30)
    alice.connection_event(alice_link, "onconnectionstatechange", "closed")
    assert conference().ongoing is True
    assert hooks["conference_ended"] == []

    # And when bob's closes too, it ends then
    end = clock.advance(seconds=15)
    bob.connection_event(bob_link, "onconnectionstatechange", "closed")

    c = conference()
    assert (c.ongoing, c.end_time, c.call_start, c.duration) == (False, end, None, 45)
    assert c.start_time == start
    assert hooks["conference_ended"] == [(c.pk, end)]


@pytest.mark.django_db
def test_a_rejoin_reopens_the_conference_and_adds_only_the_connected_time(page, clock):
    # Given a first call of 60 s
    alice = page("alice").join()
    page("bob").join()
    first_start = clock.now
    link = alice.add_connection("bob")
    clock.advance(seconds=60)
    alice.browser_event("endCall")
    assert conference().duration == 60

    # When alice rejoins 10 minutes later (a new page, a new session)
    clock.advance(minutes=10)
    alice.join()
    rejoined = clock.now
    link = alice.add_connection("bob")

    # Then the conference is ongoing again from the rejoin
    c = conference()
    assert (c.ongoing, c.end_time, c.call_start, c.start_time) == (
        True,
        None,
        rejoined,
        first_start,
    )

    # And the idle 10 minutes are not counted when it ends again
    clock.advance(seconds=30)
    alice.remove_connection(link, "bob")
    c = conference()
    assert (c.ongoing, c.duration, c.end_time) == (False, 90, clock.now)
    assert Session.objects.filter(participant__participant_id="alice").count() == 2


@pytest.mark.django_db
def test_a_back_dated_end_ends_the_conference_at_that_time(page, clock):
    alice = page("alice").join()
    page("bob").join()
    link = alice.add_connection("bob")
    clock.advance(seconds=20)

    # A close the SDK queued for 4 s
    alice.connection_event(link, "onconnectionstatechange", "closed", delta=4000)

    c = conference()
    assert c.end_time == clock.now - timedelta(seconds=4)
    assert c.duration == 16
    assert link.connection.end_time == clock.now - timedelta(seconds=4)


@pytest.mark.django_db
def test_a_late_back_dated_end_does_not_end_the_call_before_a_later_close(page, clock):
    # Given alice and bob in a call; alice's endCall is lost on the way
    alice = page("alice").join()
    bob = page("bob").join()
    alice.add_connection("bob")
    bob_link = bob.add_connection("alice")
    alice_left = clock.advance(seconds=90)

    # When bob closes 10 s later and alice's retry arrives 15 s after her end
    bob_closed = clock.advance(seconds=10)
    bob.connection_event(bob_link, "onconnectionstatechange", "closed")
    clock.advance(seconds=5)
    alice.browser_event("endCall", delta=15_000)

    # Then alice's session ended when she left, the call when bob closed
    assert alice.session.end_time == alice_left
    c = conference()
    assert (c.end_time, c.duration) == (bob_closed, 100)
    assert usage() == {str(clock.now.date()): 90 + 100}


# ---------------------------------------------------------------- session


@pytest.mark.django_db
def test_beforeunload_ends_the_session_but_not_its_connections(page, clock, hooks):
    alice = page("alice").join()
    page("bob").join()
    created = alice.session.created_at
    link = alice.add_connection("bob")
    leaving = clock.advance(seconds=42)

    alice.browser_event("beforeunload")

    session = alice.session
    assert (session.end_time, session.duration) == (leaving, 42)
    assert session.end_time - created == timedelta(seconds=42)
    assert link.connection.end_time is None
    assert conference().ongoing is True
    assert hooks["session_ended"] == [(session.pk, leaving)]


@pytest.mark.django_db
def test_unload_after_beforeunload_ends_the_connections_and_the_call(page, clock, hooks):
    alice = page("alice").join()
    page("bob").join()
    link = alice.add_connection("bob")
    leaving = clock.advance(seconds=42)
    alice.browser_event("beforeunload")

    gone = clock.advance(milliseconds=40)
    alice.browser_event("unload")

    session = alice.session
    assert session.end_time == leaving  # the first end stands
    assert session.call_start is None
    connection = link.connection
    assert connection.end_time == gone
    assert conference().ongoing is False
    assert len(hooks["session_ended"]) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("leave", ["endCall", "unload"])
def test_leaving_ends_every_connection_of_the_session_and_only_those(page, clock, leave):
    # Given alice connected to bob and carol, and bob to carol
    alice = page("alice").join()
    bob = page("bob").join()
    page("carol").join()
    to_bob = alice.add_connection("bob")
    to_carol = alice.add_connection("carol")
    bobs = bob.add_connection("carol")
    clock.advance(seconds=12)

    # When alice leaves
    response = alice.browser_event(leave)

    # Then her connections and session ended, bob's call goes on
    assert (response.status, response.raw) == (200, b'""')
    for link in (to_bob, to_carol):
        assert (link.connection.end_time, link.connection.duration) == (clock.now, 12)
    assert (alice.session.end_time, alice.session.duration) == (clock.now, 12)
    assert bobs.connection.end_time is None
    assert conference().ongoing is True


@pytest.mark.django_db
def test_a_retried_end_call_is_stored_once_and_ends_the_session_once(page, clock, hooks):
    alice = page("alice").join()
    page("bob").join()
    alice.add_connection("bob")
    ended = clock.advance(seconds=5)
    alice.browser_event("endCall")

    clock.advance(seconds=2)
    retry = alice.browser_event("endCall", delta=2000)

    assert retry.status == 200
    assert GenericEvent.objects.filter(type="endCall").count() == 1
    assert alice.session.end_time == ended
    assert len(hooks["session_ended"]) == 1
    assert len(hooks["conference_ended"]) == 1


@pytest.mark.django_db
def test_a_second_unload_changes_nothing(page, clock, hooks):
    alice = page("alice").join()
    page("bob").join()
    alice.add_connection("bob")
    clock.advance(seconds=5)
    alice.browser_event("unload")
    before = (
        list(Session.objects.order_by("created_at").values()),
        Conference.objects.values().get(),
        usage(),
    )

    clock.advance(seconds=5)
    alice.browser_event("unload")

    assert (
        list(Session.objects.order_by("created_at").values()),
        Conference.objects.values().get(),
        usage(),
    ) == before
    assert len(hooks["session_ended"]) == 1
    assert len(hooks["conference_ended"]) == 1


# ------------------------------------------------------------------ usage


@pytest.mark.django_db
def test_each_session_is_billed_its_connected_time(page, clock):
    # Given alice in the call for 40 s, bob joining it 10 s later
    alice = page("alice").join()
    bob = page("bob").join()
    clock.advance(seconds=5)  # joined but not connected: not billed
    alice_link = alice.add_connection("bob")
    clock.advance(seconds=10)
    bob.add_connection("alice")

    clock.advance(seconds=30)
    alice.remove_connection(alice_link, "bob")
    bob.browser_event("endCall")

    assert usage() == {str(clock.now.date()): 40 + 30}


@pytest.mark.django_db
def test_a_session_with_several_connections_is_billed_once_for_its_call(page, clock):
    alice = page("alice").join()
    page("bob").join()
    page("carol").join()
    to_bob = alice.add_connection("bob")
    clock.advance(seconds=10)
    to_carol = alice.add_connection("carol")
    clock.advance(seconds=10)
    alice.remove_connection(to_bob, "bob")
    clock.advance(seconds=10)
    alice.remove_connection(to_carol, "carol")

    assert usage() == {str(clock.now.date()): 30}


@pytest.mark.django_db
def test_a_call_over_utc_midnight_is_billed_on_both_days(page, clock):
    clock.set(datetime(2026, 3, 14, 23, 59, 30, tzinfo=UTC))
    alice = page("alice").join()
    page("bob").join()
    alice.add_connection("bob")

    clock.set(datetime(2026, 3, 15, 0, 1, 0, tzinfo=UTC))
    alice.browser_event("endCall")

    assert usage() == {"2026-03-14": 30, "2026-03-15": 60}
    c = conference()
    assert c.duration == 90


@pytest.mark.django_db
def test_a_call_over_several_midnights_is_billed_on_each_day(page, clock):
    clock.set(datetime(2026, 3, 14, 23, 0, 0, tzinfo=UTC))
    alice = page("alice").join()
    page("bob").join()
    alice.add_connection("bob")

    clock.set(datetime(2026, 3, 16, 0, 30, 0, tzinfo=UTC))
    alice.browser_event("endCall")

    assert usage() == {"2026-03-14": 3600, "2026-03-15": 86400, "2026-03-16": 1800}


# ------------------------------------------------------------- connection


@pytest.mark.django_db
def test_the_connection_state_follows_the_browser(page, clock):
    alice = page("alice").join()
    page("bob").join()
    link = alice.add_connection("bob")

    alice.connection_event(link, "oniceconnectionstatechange", "checking")
    assert link.connection.state == "new"
    alice.connection_event(link, "onconnectionstatechange", "connecting")
    assert link.connection.state == "connecting"
    alice.connection_event(link, "onconnectionstatechange", "connected")
    assert link.connection.state == "connected"
    alice.connection_event(link, "onconnectionstatechange", "disconnected")
    assert link.connection.state == "disconnected"
    alice.connection_event(link, "onconnectionstatechange", "failed")
    connection = link.connection
    assert connection.state == "failed"
    assert connection.end_time is None  # failed is not the end: ICE may restart


@pytest.mark.django_db
def test_ice_connected_marks_a_new_connection_connected(page):
    alice = page("alice").join()
    page("bob").join()
    link = alice.add_connection("bob")

    alice.connection_event(link, "oniceconnectionstatechange", "completed")

    connection = link.connection
    assert connection.state == "connected"
    assert connection.connection_info["negotiations"][0]["status"] == "connected"


@pytest.mark.django_db
def test_the_connection_type_survives_samples_without_a_candidate_pair(page):
    alice = page("alice").join()
    page("bob").join()
    link = alice.add_connection("bob")
    early = stats_report(candidate_pair=False)

    alice.stats(link, early)
    assert link.connection.type is None
    alice.stats(
        link, next_report(early, candidate_type=None) | {"connection": stats_report()["connection"]}
    )
    assert link.connection.type == "host"
    alice.stats(link, next_report(next_report(early)))
    assert link.connection.type == "host"


def _negotiations(link) -> list[tuple[str, str]]:
    return [(n["type"], n["status"]) for n in link.connection.connection_info["negotiations"]]


@pytest.mark.django_db
def test_negotiations_record_the_initial_offer_answer_until_connected(page, clock):
    alice = page("alice").join()
    page("bob").join()
    opened = clock.now
    link = alice.add_connection("bob")
    assert _negotiations(link) == [("initial", "connecting")]

    clock.advance(milliseconds=100)
    alice.connection_event(link, "onnegotiationneeded")  # already negotiating: no new entry
    alice.signaling(link, "have-local-offer")
    assert _negotiations(link) == [("initial", "connecting")]

    stable = clock.advance(milliseconds=200)
    alice.signaling(link, "stable")
    entry = link.connection.connection_info["negotiations"][0]
    assert entry["status"] == "stable"
    assert entry["end_time"] == stable.isoformat().replace("+00:00", "Z")

    connected = clock.advance(milliseconds=450)
    alice.connection_event(link, "onconnectionstatechange", "connected")
    entry = link.connection.connection_info["negotiations"][0]
    assert (entry["type"], entry["status"]) == ("initial", "connected")
    assert entry["start_time"] == opened.isoformat().replace("+00:00", "Z")
    assert entry["end_time"] == connected.isoformat().replace("+00:00", "Z")
    assert entry["duration"] == 0.75

    # A later stable (the answer to a renegotiation elsewhere) rewrites nothing.
    alice.signaling(link, "stable")
    assert _negotiations(link) == [("initial", "connected")]


@pytest.mark.django_db
def test_a_renegotiation_is_a_new_entry(page, clock):
    alice = page("alice").join()
    page("bob").join()
    link = alice.add_connection("bob")
    alice.connection_event(link, "onconnectionstatechange", "connected")

    clock.advance(seconds=5)
    alice.connection_event(link, "onnegotiationneeded")
    alice.signaling(link, "have-local-offer")
    assert _negotiations(link) == [("initial", "connected"), ("renegotiation", "connecting")]
    clock.advance(milliseconds=300)
    alice.signaling(link, "stable")
    assert _negotiations(link) == [("initial", "connected"), ("renegotiation", "stable")]

    # The remote side renegotiates too
    alice.signaling(link, "have-remote-offer")
    alice.signaling(link, "stable")
    assert _negotiations(link) == [
        ("initial", "connected"),
        ("renegotiation", "stable"),
        ("renegotiation", "stable"),
    ]


@pytest.mark.django_db
def test_a_failed_connection_fails_its_negotiation(page):
    alice = page("alice").join()
    page("bob").join()
    link = alice.add_connection("bob")
    alice.signaling(link, "have-local-offer")
    alice.signaling(link, "stable")

    alice.connection_event(link, "onconnectionstatechange", "failed")

    assert _negotiations(link) == [("initial", "failed")]


@pytest.mark.django_db
def test_a_connection_registered_connected_has_no_initial_negotiation(page):
    alice = page("alice").join()
    page("bob").join()

    link = alice.add_connection("bob", connectionState="connected")

    assert link.connection.state == "connected"
    assert _negotiations(link) == []
    alice.connection_event(link, "onnegotiationneeded")
    assert _negotiations(link) == [("renegotiation", "connecting")]


@pytest.mark.django_db
def test_a_signaling_change_without_any_negotiation_opens_the_initial_one(page):
    alice = page("alice").join()
    page("bob").join()
    link = alice.add_connection("bob", connectionState="connected")

    alice.signaling(link, "have-remote-offer")

    assert _negotiations(link) == [("initial", "connecting")]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "data"),
    [("onconnectionstatechange", "closed"), ("oniceconnectionstatechange", "closed")],
)
def test_a_closed_state_ends_the_connection_and_fails_open_negotiations(page, clock, name, data):
    # Some browsers only report the ICE closure (the original ignored it).
    alice = page("alice").join()
    page("bob").join()
    link = alice.add_connection("bob")
    clock.advance(seconds=7)

    response = alice.connection_event(link, name, data)

    assert response.status == 200
    connection = link.connection
    assert (connection.state, connection.end_time, connection.duration) == ("closed", clock.now, 7)
    assert _negotiations(link) == [("initial", "failed")]
    assert conference().ongoing is False


@pytest.mark.django_db
def test_remove_connection_with_the_apps_peer_id_ends_the_connection(page, clock):
    # The SDK sends the application's peer id here (the original answered
    # participant_not_found and never ended the connection).
    alice = page("alice").join()
    page("bob").join()
    link = alice.add_connection("bob")
    alice.connection_event(link, "onconnectionstatechange", "connected")
    clock.advance(seconds=9)

    response = alice.remove_connection(link, "bob")

    assert (response.status, response.raw) == (200, b'""')
    connection = link.connection
    assert (connection.end_time, connection.duration) == (clock.now, 9)
    assert connection.state == "connected"  # how it was when it was removed
    event = GenericEvent.objects.get(type="removeConnection")
    assert str(event.connection_id) == link.connection_id
    assert str(event.peer_id) == link.peer_id


@pytest.mark.django_db
@pytest.mark.parametrize("by", ["app id", "server id"])
def test_remove_peer_ends_every_connection_to_that_peer_and_only_those(page, clock, by):
    alice = page("alice").join()
    page("bob").join()
    page("carol").join()
    first = alice.add_connection("bob")
    second = alice.add_connection("bob")  # e.g. Jitsi's two connections per peer
    to_carol = alice.add_connection("carol")
    clock.advance(seconds=3)

    peer = "bob" if by == "app id" else first.peer_id
    response = alice.connection_request("removePeer", peerId=peer)

    assert (response.status, response.raw) == (200, b'""')
    assert first.connection.end_time == second.connection.end_time == clock.now
    assert to_carol.connection.end_time is None
    assert str(GenericEvent.objects.get(type="removePeer").peer_id) == first.peer_id


@pytest.mark.django_db
def test_remove_peer_of_an_unknown_peer_is_stored_and_ends_nothing(page):
    alice = page("alice").join()
    page("bob").join()
    link = alice.add_connection("bob")

    response = alice.connection_request("removePeer", peerId="nobody")

    assert response.status == 200
    assert link.connection.end_time is None
    assert GenericEvent.objects.get(type="removePeer").peer_id is None


@pytest.mark.django_db
def test_late_events_never_reopen_an_ended_connection(page, clock):
    # Given a connection that closed
    alice = page("alice").join()
    page("bob").join()
    link = alice.add_connection("bob")
    clock.advance(seconds=10)
    alice.connection_event(link, "onconnectionstatechange", "closed")
    ended = link.connection

    # When events of it arrive late (reordered, or sent by a stale tab)
    clock.advance(seconds=2)
    late = [
        alice.connection_event(link, "onconnectionstatechange", "connected"),
        alice.connection_event(link, "oniceconnectionstatechange", "connected"),
        alice.connection_event(link, "onnegotiationneeded"),
        alice.signaling(link, "have-local-offer"),
        alice.connection_event(link, "onconnectionstatechange", "closed"),
        alice.remove_connection(link, "bob"),
        alice.track_state("remote-a", "ended", link),
    ]

    # Then they are stored, and the connection stays as it ended
    assert all(response.status == 200 for response in late)
    after = link.connection
    assert (after.state, after.end_time, after.duration, after.connection_info) == (
        ended.state,
        ended.end_time,
        ended.duration,
        ended.connection_info,
    )
    assert conference().ongoing is False
    assert GenericEvent.objects.filter(connection_id=link.connection_id).count() == 2 + len(late)

    # And its stats are refused at once
    stats = alice.stats(link)
    assert (stats.status, stats.json) == (400, CONNECTION_ENDED)
    assert not StatsSample.objects.exists()


@pytest.mark.django_db
def test_stop_conference_ends_everything_and_later_stats_are_refused(page, sdk, clock, hooks):
    alice = page("alice").join()
    bob = page("bob").join()
    alice_link = alice.add_connection("bob")
    bob_link = bob.add_connection("alice")
    clock.advance(seconds=25)

    response = sdk.post(
        "/v1/services/stop-conference", {"apiKey": alice.api_key, "conferenceId": "room-1"}
    )

    assert response.status == 200
    assert not Connection.objects.filter(end_time__isnull=True).exists()
    assert not Session.objects.filter(end_time__isnull=True).exists()
    assert (conference().ongoing, conference().duration) == (False, 25)
    assert usage() == {str(clock.now.date()): 50}
    assert len(hooks["session_ended"]) == 2
    assert len(hooks["conference_ended"]) == 1
    for page_, link in ((alice, alice_link), (bob, bob_link)):
        assert page_.stats(link).json == CONNECTION_ENDED
