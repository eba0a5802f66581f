"""Detectors driven by SDK events: connection states, candidate errors,
getUserMedia, rejoins, and the end-of-session checks; and issues closing
when their subject ends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from api.calls.models import Connection
from api.quality.models import Issue
from api.quality.tests.conftest import StatsScript, issues, run

NO_PAIR_YET: dict[str, Any] = {
    "audio": {"inbound": [], "outbound": []},
    "video": {"inbound": [], "outbound": []},
    "connection": {"inbound": [], "outbound": []},
}


def _connected(peer, connection, clock, after: float = 1.0):
    clock.advance(after)
    peer.event("onconnectionstatechange", "connected", connection_id=connection)


@pytest.mark.django_db
def test_ice_failure_is_an_error_from_the_event_until_ice_connects_again(live, clock):
    caller = live.join("u0")
    connection = caller.connect("u1")
    _connected(caller, connection, clock)

    clock.advance(10)
    failed_at = clock.at
    caller.event("oniceconnectionstatechange", "failed", connection_id=connection)
    [issue] = issues("ice_failed")
    assert (issue.type, issue.created_at, issue.resolved_at) == ("error", failed_at, None)
    assert issue.conference_id is not None and str(issue.connection_id) == connection

    clock.advance(4)
    caller.event("oniceconnectionstatechange", "connected", connection_id=connection)
    [issue] = issues("ice_failed")
    assert issue.duration == 4.0


@pytest.mark.django_db
def test_connection_failure_is_an_error(live, clock):
    caller = live.join("u0")
    connection = caller.connect("u1")
    clock.advance(3)
    caller.event("onconnectionstatechange", "failed", connection_id=connection)
    caller.event("onconnectionstatechange", "failed", connection_id=connection)
    [issue] = issues("connection_failed")
    assert issue.type == "error" and issue.resolved_at is None


@pytest.mark.django_db
def test_a_disconnection_shorter_than_the_grace_period_is_no_issue(live, clock):
    caller = live.join("u0")
    connection = caller.connect("u1")
    _connected(caller, connection, clock)
    clock.advance(10)
    caller.event("onconnectionstatechange", "disconnected", connection_id=connection)
    clock.advance(3)
    caller.event("onconnectionstatechange", "connected", connection_id=connection)
    assert issues("connection_disconnected") == []


@pytest.mark.django_db
def test_a_long_disconnection_shows_at_the_next_sample_and_ends_at_reconnection(live, clock):
    caller = live.join("u0")
    connection = caller.connect("u1")
    _connected(caller, connection, clock)
    script = StatsScript()
    run(caller, connection, script, clock, {})

    clock.advance(2)
    since = clock.at
    caller.event("oniceconnectionstatechange", "disconnected", connection_id=connection)
    assert issues("connection_disconnected") == []
    run(caller, connection, script, clock, {"pair": {"received": 0.0}}, seconds=8)

    [issue] = issues("connection_disconnected")
    assert issue.created_at == since and issue.resolved_at is None
    clock.advance(7)
    caller.event("oniceconnectionstatechange", "connected", connection_id=connection)
    assert issues("connection_disconnected")[0].duration == 15.0


@pytest.mark.django_db
def test_a_long_disconnection_between_samples_is_recorded_when_it_reconnects(live, clock):
    caller = live.join("u0")
    connection = caller.connect("u1")
    _connected(caller, connection, clock)
    clock.advance(5)
    caller.event("onconnectionstatechange", "disconnected", connection_id=connection)
    clock.advance(8)
    caller.event("onconnectionstatechange", "connected", connection_id=connection)
    [issue] = issues("connection_disconnected")
    assert issue.duration == 8.0


@pytest.mark.django_db
def test_a_setup_slower_than_five_seconds_is_recorded_with_its_duration(live, clock):
    caller = live.join("u0")
    started = clock.at
    connection = caller.connect("u1")
    clock.advance(4)
    caller.event("onsignalingstatechange", {"signalingState": "stable"}, connection_id=connection)
    _connected(caller, connection, clock, after=3)
    [issue] = issues("slow_connection_setup")
    assert issue.created_at == started and issue.duration == 7.0


@pytest.mark.django_db
def test_a_fast_setup_is_no_issue(live, clock):
    caller = live.join("u0")
    connection = caller.connect("u1")
    _connected(caller, connection, clock, after=1.2)
    assert Issue.objects.count() == 0


@pytest.mark.django_db
def test_a_slow_setup_is_visible_while_it_is_still_connecting(live, clock):
    caller = live.join("u0")
    started = clock.at
    connection = caller.connect("u1")
    clock.advance(10)
    caller.stats(connection, NO_PAIR_YET)
    [issue] = issues("slow_connection_setup")
    assert issue.created_at == started and issue.resolved_at is None

    _connected(caller, connection, clock, after=2)
    [issue] = issues("slow_connection_setup")
    assert issue.duration == 12.0


@pytest.mark.django_db
def test_candidate_errors_make_one_issue_per_connection_resolved_when_it_connects(live, clock):
    caller = live.join("u0")
    connection = caller.connect("u1")
    error = {"errorCode": 701, "url": "stun:stun.example.com:3478", "errorText": "timeout"}
    caller.event("onicecandidateerror", error, connection_id=connection)
    clock.advance(0.5)
    caller.event("onicecandidateerror", {**error, "errorCode": 702}, connection_id=connection)
    [issue] = issues("icecandidateerror")
    assert issue.data["count"] == 2 and issue.data["errorCode"] == 701
    assert issue.conference_id is not None  # the original lost it here

    _connected(caller, connection, clock, after=1.5)
    caller.event("onicecandidateerror", error, connection_id=connection)
    [issue] = issues("icecandidateerror")
    assert issue.duration == 2.0 and issue.data["count"] == 3


@pytest.mark.django_db
def test_get_user_media_errors_count_into_one_issue_until_a_request_succeeds(live, clock):
    caller = live.join("u0")
    denied = {"error": {"name": "NotAllowedError", "message": "Permission denied"}}
    caller.event("getUserMedia", {"constraints": {"audio": True}})
    caller.event("getUserMedia", denied)
    clock.advance(3)
    caller.event("getUserMedia", denied)
    [issue] = issues("getusermedia_error")
    assert issue.data == {"name": "NotAllowedError", "message": "Permission denied", "count": 2}

    clock.advance(2)
    caller.event("getUserMedia", {"audio": [{"id": "mic-1", "kind": "audio"}]})
    assert issues("getusermedia_error")[0].duration == 5.0


@pytest.mark.django_db
def test_a_rejoining_participant_has_one_issue_counting_its_sessions(live, clock):
    live.join("u0")
    assert issues("multiple_rejoins") == []
    clock.advance(30)
    live.join("u0")
    clock.advance(30)
    live.join("u0")
    live.join("u1")
    [issue] = issues("multiple_rejoins")
    assert issue.data == {"sessions": 3} and issue.resolved_at is None
    assert issue.created_at == clock.at - timedelta(seconds=30)


@pytest.mark.django_db
def test_turn_and_tcp_issues_belong_to_the_conference(live, clock):
    caller = live.join("u0")
    connection = caller.connect("u1")
    relay = {"pair": {"candidate_type": "relay", "relay_protocol": "tls"}}
    run(caller, connection, StatsScript(), clock, relay)
    turn, tcp = issues("turn_used"), issues("tcp_used")
    assert len(turn) == len(tcp) == 1
    assert turn[0].conference_id is not None
    assert tcp[0].data["relay_protocol"] == "tls"


# ------------------------------------------------------------ end of session
# Session and conference ends reach quality after commit: real transactions.


@pytest.mark.django_db(transaction=True)
def test_a_session_whose_media_requests_all_failed_gets_no_media_access_once(live, clock):
    caller = live.join("u0")
    caller.event("getUserMedia", {"constraints": {"audio": True, "video": True}})
    failed_at = clock.at
    caller.event("getUserMedia", {"error": {"name": "NotFoundError", "message": "none"}})
    clock.advance(20)
    caller.event("endCall")
    caller.event("unload")
    caller.event("endCall")

    [issue] = issues("no_media_access")
    assert issue.type == "error"
    assert issue.created_at == failed_at and issue.resolved_at == clock.at
    # The getUserMedia warning ended with its session.
    assert issues("getusermedia_error")[0].resolved_at == clock.at


@pytest.mark.django_db(transaction=True)
def test_a_session_that_got_media_once_has_no_no_media_access(live, clock):
    caller = live.join("u0")
    caller.event("getUserMedia", {"constraints": {"audio": True}})
    caller.event("getUserMedia", {"error": {"name": "NotReadableError"}})
    caller.event("getUserMedia", {"constraints": {"audio": True}})
    caller.event("getUserMedia", {"audio": [{"id": "mic", "kind": "audio"}]})
    caller.event("endCall")
    assert issues("no_media_access") == []


@pytest.mark.django_db(transaction=True)
def test_a_session_that_never_connected_gets_no_connection_once(live, clock):
    caller = live.join("u0")
    connection = caller.connect("u1")
    caller.event("oniceconnectionstatechange", "checking", connection_id=connection)
    clock.advance(30)
    caller.event("unload")
    caller.event("endCall")

    [issue] = issues("no_connection")
    assert issue.type == "error" and issue.duration == 30.0


@pytest.mark.django_db(transaction=True)
def test_media_flowing_is_enough_evidence_of_a_connection(live, clock):
    # Given a connection whose state events never arrived but whose stats
    # show media (api PR #30's false positive)
    caller = live.join("u0")
    connection = caller.connect("u1")
    run(caller, connection, StatsScript(), clock, {}, {})
    caller.event("endCall")
    assert issues("no_connection") == []


@pytest.mark.django_db(transaction=True)
def test_issues_end_with_their_connection_session_and_conference(live, clock):
    # Given open issues on two connections and a rejoin
    u0 = live.join("u0")
    live.join("u0")
    u0 = live.join("u0")
    c1, c2 = u0.connect("u1"), u0.connect("u2")
    _connected(u0, c1, clock)
    _connected(u0, c2, clock)
    s1, s2 = StatsScript(), StatsScript()
    loss = {"audio_in": {"lost": 50}}
    run(u0, c1, s1, clock, {}, loss, loss)
    run(u0, c2, s2, clock, {}, loss, loss)
    # (two loss issues, the rejoin, and the diagnosis: u0's downlink)
    assert Issue.objects.filter(resolved_at__isnull=True).count() == 4
    [cause] = issues("downlink_loss")

    # When one connection is removed, its issue ends when it ended
    clock.advance(5)
    u0.event("removeConnection", connection_id=c1)
    ended = Connection.objects.get(pk=c1).end_time
    [first, second] = issues("high_packet_loss")
    assert first.resolved_at == ended and second.resolved_at is None
    # the cause lasts while a symptom does
    assert issues("downlink_loss")[0].resolved_at is None

    # When the session ends, the other connection's issue ends too, and the
    # conference's end closes the rejoin issue
    clock.advance(5)
    u0.event("endCall")
    assert Issue.objects.filter(resolved_at__isnull=True).count() == 0
    assert issues("high_packet_loss")[1].resolved_at == clock.at
    assert issues("downlink_loss")[0].resolved_at == clock.at
    assert cause.code == "downlink_loss"
    assert issues("multiple_rejoins")[0].resolved_at == clock.at
