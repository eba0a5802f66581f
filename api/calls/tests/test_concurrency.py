"""The lifecycle under concurrent requests, on PostgreSQL with real threads.

The SDK never waits between requests, so a connection's events, its stats
and the other participants' closes arrive at once. Each test releases its
threads together (a barrier), repeats the race several rounds, and checks
what any serial order of the same requests would give.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection as db_connection

from api.calls import services
from api.calls.models import Conference, Connection, Participant, Session
from api.ingest.tests.fake_sdk import next_report, stats_report

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROUNDS = 8
CONNECTION_ENDED = "connection_ended"


def run_together(*actions: Callable[[], Any], timeout: float = 60) -> list[Any]:
    """Run each action in its own thread, all released at once; each thread
    closes its database connection when done. Returns the results in order
    and re-raises the first error of any thread."""
    barrier = threading.Barrier(len(actions))
    results: list[Any] = [None] * len(actions)
    errors: list[BaseException] = []

    def run(index: int, action: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=timeout)
            results[index] = action()
        except BaseException as error:  # noqa: BLE001 - reported to the test
            errors.append(error)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a request hung (deadlock?)"
    if errors:
        raise errors[0]
    return results


def ok(response) -> Any:
    assert response.status == 200, response
    return response


@pytest.fixture
def conference_ends(monkeypatch) -> list:
    """Every call of the conference-ended hook (runs once per end)."""
    ends: list = []
    monkeypatch.setattr(
        "api.quality.services.conference_ended",
        lambda *, conference, at: ends.append((conference.pk, at)),
    )
    return ends


def test_participants_initializing_the_same_conference_at_once_make_one_conference(page):
    for round_ in range(ROUNDS):
        # Alice, bob and carol, and alice again in a second tab
        pages = [
            page(user, conference_id=f"room-{round_}").in_new_client()
            for user in ("alice", "bob", "carol", "alice")
        ]

        answers = run_together(*[p.initialize for p in pages])
        assert all(answer.status == 200 for answer in answers), answers
        run_together(*[lambda p=p: ok(p.start_session()) for p in pages])

        conference = Conference.objects.get(conference_id=f"room-{round_}")
        linked = set(conference.participants.values_list("participant_id", flat=True))
        assert linked == {"alice", "bob", "carol"}
        assert Session.objects.filter(conference=conference).count() == 4
    assert Participant.objects.count() == 3


# Every way the SDK ends a connection: (page, link, app's peer id) → answer.
LEAVES = [
    lambda p, link, peer: p.connection_event(link, "onconnectionstatechange", "closed"),
    lambda p, link, peer: p.connection_event(link, "oniceconnectionstatechange", "closed"),
    lambda p, link, peer: p.remove_connection(link, peer),
    lambda p, link, peer: p.connection_request("removePeer", peerId=peer),
    lambda p, link, peer: p.browser_event("endCall"),
    lambda p, link, peer: p.browser_event("unload"),
]


def _a_round_of_joins_and_leaves(page, clock, conference_ends, room: str) -> None:
    users = ["u0", "u1", "u2", "u3", "u4", "u5"]
    pages = [page(user, conference_id=room).join().in_new_client() for user in users]
    peers = users[1:] + users[:1]
    started = clock.advance(minutes=5)

    # All participants connect at once
    links = run_together(
        *[
            lambda p=p, peer=peer: p.add_connection(peer)
            for p, peer in zip(pages, peers, strict=True)
        ]
    )
    conference = Conference.objects.get(conference_id=room)
    assert (conference.ongoing, conference.start_time) == (True, started)

    # Half of them leave, each in another way, while the other half open a
    # second connection
    ended = clock.advance(seconds=60)
    half = len(pages) // 2
    leaving = [lambda i=i: ok(LEAVES[i](pages[i], links[i], peers[i])) for i in range(half)]
    joining = [lambda i=i: pages[i].add_connection(peers[i]) for i in range(half, len(pages))]
    more = run_together(*leaving, *joining)[half:]
    assert Conference.objects.get(pk=conference.pk).ongoing is True
    assert conference_ends == []

    # The others leave at once
    last = clock.advance(seconds=30)
    run_together(*[lambda p=p: ok(p.browser_event("endCall")) for p in pages[half:]])

    conference.refresh_from_db()
    assert (conference.ongoing, conference.end_time, conference.call_start) == (False, last, None)
    assert conference.duration == 90
    assert conference_ends == [(conference.pk, last)]
    connections = Connection.objects.filter(conference=conference)
    assert connections.count() == len(pages) + len(more)
    assert not connections.filter(end_time__isnull=True).exists()
    left_first = connections.filter(session__participant__participant_id__in=users[:half])
    assert set(left_first.values_list("end_time", flat=True)) == {ended}


def test_many_concurrent_connections_and_ends_end_the_conference_once(page, clock, conference_ends):
    for round_ in range(ROUNDS):
        _a_round_of_joins_and_leaves(page, clock, conference_ends, f"room-{round_}")
        conference_ends.clear()


def _a_round_of_two_removes(page, clock, conference_ends, room: str, seconds: int) -> None:
    alice = page("alice", conference_id=room).join().in_new_client()
    bob = page("bob", conference_id=room).join().in_new_client()
    alice_link = alice.add_connection("bob")
    bob_link = bob.add_connection("alice")
    end = clock.advance(seconds=seconds)

    run_together(
        lambda: ok(alice.remove_connection(alice_link, "bob")),
        lambda: ok(bob.remove_connection(bob_link, "alice")),
    )

    conference = Conference.objects.get(conference_id=room)
    assert (conference.ongoing, conference.end_time, conference.duration) == (False, end, seconds)
    assert conference_ends == [(conference.pk, end)]


def test_two_concurrent_remove_connections_of_the_last_two_connections_end_the_conference(
    page, clock, conference_ends
):
    for round_ in range(ROUNDS):
        # Calls of 0 s too: they bill nothing, so no usage row serialises them.
        seconds = 20 * (round_ % 2)
        _a_round_of_two_removes(page, clock, conference_ends, f"room-{round_}", seconds)
        conference_ends.clear()


def test_stats_racing_with_the_close_never_reopen_the_connection(page, clock):
    samples = 6
    for round_ in range(ROUNDS):
        room = f"room-{round_}"
        alice = page("alice", conference_id=room).join()
        page("bob", conference_id=room).join()
        link = alice.add_connection("bob")
        reports = [stats_report()]
        for _ in range(samples - 1):
            reports.append(next_report(reports[-1]))
        sender, closer = alice.in_new_client(), alice.in_new_client()

        def send_stats(sender=sender, link=link, reports=reports):
            return [sender.stats(link, report) for report in reports]

        answers, _ = run_together(
            send_stats,
            lambda closer=closer, link=link: ok(
                closer.connection_event(link, "onconnectionstatechange", "closed")
            ),
        )

        connection = link.connection
        assert connection.state == "closed"
        assert connection.end_time is not None
        for answer in answers:
            assert answer.status == 200 or answer.json["error_code"] == CONNECTION_ENDED, answer
        # Once refused, never accepted again
        codes = [answer.status for answer in answers]
        assert codes == sorted(codes), codes
        assert alice.stats(link, next_report(reports[-1])).json["error_code"] == CONNECTION_ENDED


def test_concurrent_state_events_of_one_connection_lose_no_update(page):
    alice = page("alice").join()
    page("bob").join()
    link = alice.add_connection("bob")
    ok(alice.connection_event(link, "onconnectionstatechange", "connected"))
    threads = [alice.in_new_client() for _ in range(4)]
    for round_ in range(ROUNDS):
        # A renegotiation starts while the connection is disconnected
        ok(alice.connection_event(link, "onconnectionstatechange", "disconnected"))
        ok(alice.connection_event(link, "onnegotiationneeded"))

        # Its events arrive at once; each changes something else
        run_together(
            lambda: ok(threads[0].signaling(link, "stable")),
            lambda: ok(threads[1].connection_event(link, "onconnectionstatechange", "connected")),
            lambda: ok(
                threads[2].connection_event(link, "oniceconnectionstatechange", "completed")
            ),
            lambda: ok(threads[3].connection_event(link, "onicegatheringstatechange", "complete")),
        )

        # In any order they give: connected, the renegotiation connected
        connection = link.connection
        negotiations = connection.connection_info["negotiations"]
        assert connection.state == "connected", round_
        assert len(negotiations) == round_ + 2, negotiations
        assert [n["status"] for n in negotiations[1:]] == ["connected"] * (round_ + 1)
        assert all(n["end_time"] is not None for n in negotiations)


def _a_round_of_stop_during_leaves(page, sdk, clock, conference_ends, room: str) -> None:
    alice = page("alice", conference_id=room).join().in_new_client()
    bob = page("bob", conference_id=room).join().in_new_client()
    carol = page("carol", conference_id=room).join().in_new_client()
    alice_link = alice.add_connection("bob")
    bob_link = bob.add_connection("carol")
    carol_link = carol.add_connection("alice")
    end = clock.advance(seconds=45)
    stop = {"apiKey": alice.api_key, "conferenceId": room}

    run_together(
        lambda: ok(sdk.post("/v1/services/stop-conference", stop)),
        lambda: ok(alice.browser_event("endCall")),
        lambda: ok(bob.connection_event(bob_link, "onconnectionstatechange", "closed")),
        lambda: carol.stats(carol_link),
        lambda: ok(carol.ontrack(carol_link, "remote-a")),
    )

    conference = Conference.objects.get(conference_id=room)
    assert (conference.ongoing, conference.end_time, conference.duration) == (False, end, 45)
    assert conference_ends == [(conference.pk, end)]
    assert not Connection.objects.filter(conference=conference, end_time__isnull=True).exists()
    assert not Session.objects.filter(conference=conference, end_time__isnull=True).exists()
    for page_, link in ((alice, alice_link), (carol, carol_link)):
        assert page_.stats(link).json["error_code"] == CONNECTION_ENDED


def test_stop_conference_racing_with_leaves_stats_and_tracks_ends_everything(
    page, sdk, clock, conference_ends
):
    for round_ in range(ROUNDS):
        _a_round_of_stop_during_leaves(page, sdk, clock, conference_ends, f"room-{round_}")
        conference_ends.clear()


def test_stats_and_events_do_not_wait_for_a_call_ending_in_their_conference(page, monkeypatch):
    # Given bob's connection ending, its transaction holding the conference
    # lock (paused inside it)
    alice = page("alice").join().in_new_client()
    bob = page("bob").join().in_new_client()
    alice_link = alice.add_connection("bob")
    bob_link = bob.add_connection("alice")
    inside, release = threading.Event(), threading.Event()
    check = services._session_call_check

    def paused_check(**kwargs):
        inside.set()
        release.wait(30)
        return check(**kwargs)

    monkeypatch.setattr(services, "_session_call_check", paused_check)
    closing = threading.Thread(
        target=lambda: (
            ok(bob.connection_event(bob_link, "onconnectionstatechange", "closed")),
            db_connection.close(),
        )
    )
    closing.start()
    try:
        assert inside.wait(30)

        # When alice's stats and events of the same conference arrive
        answers: list = []
        posting = threading.Thread(
            target=lambda: (
                answers.append(alice.stats(alice_link, stats_report())),
                answers.append(
                    alice.connection_event(alice_link, "onicegatheringstatechange", "complete")
                ),
                db_connection.close(),
            )
        )
        posting.start()
        posting.join(10)

        # Then they were stored meanwhile: rows that point at the conference
        # only need its key, which the lifecycle lock leaves free
        assert not posting.is_alive(), "the hot path waited for the lifecycle lock"
        assert [answer.status for answer in answers] == [200, 200]
    finally:
        release.set()
        closing.join(30)
    assert bob_link.connection.end_time is not None
