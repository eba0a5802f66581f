"""Replays the two calls captured from the real SDK 2.7.2 (every request
body as sent) and checks every answer, then what was stored.

Time is replayed too: the server clock is moved to each request's ``atMs``
offset, so durations come out as they did in the real call."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from api.calls.models import Conference, Connection, Participant, Session, Track
from api.events.models import GenericEvent, StatsSample
from api.tenancy.models import AppUsageDay
from conftest import placeholders_replace

START = datetime(2026, 11, 28, 16, 50, 49, tzinfo=UTC)

# Where we deliberately answer differently from the original server.
# removeConnection carries the application's peer id (SDK quirk): the
# original answered 400 participant_not_found and never ended the connection.
FIXED_ANSWERS = {"removeConnection": (200, "")}


def _shape(value):
    """Keys of an answer (and of its ``data``), the part the SDK depends on."""
    if isinstance(value, dict):
        keys = set(value)
        if isinstance(value.get("data"), dict):
            return keys, set(value["data"])
        return keys, None
    return value, None


def replay(sdk, monkeypatch, call: dict) -> list[tuple[dict, object]]:
    clock = {"now": START}
    monkeypatch.setattr("api.common.time.now", lambda: clock["now"])
    mapping: dict[str, str] = {}
    exchanges = []
    for request in call["requests"]:
        clock["now"] = START + timedelta(milliseconds=request["atMs"])
        body = placeholders_replace(copy.deepcopy(request["body"]), mapping)
        response = sdk.send(
            request["method"],
            request["path"],
            body,
            content_type=request["contentType"],
            origin=request["origin"],
        )
        expected = request["answer"]
        name = request["body"].get("eventName") or request["body"].get("event")
        status, expected_body = FIXED_ANSWERS.get(name, (expected["status"], expected["body"]))
        assert response.status == status, (request["seq"], request["path"], name, response)
        assert _shape(response.json) == _shape(expected_body), (request["seq"], name, response)
        assert response.headers["Access-Control-Allow-Origin"] == request["origin"]
        answer = expected["body"]
        if isinstance(answer, dict):
            if isinstance(answer.get("token"), str):
                mapping[answer["token"]] = response.json["token"]
            for key in ("peer_id", "connection_id"):
                if key in answer:
                    mapping[answer[key]] = response.json[key]
        exchanges.append((request, response))
    return exchanges


@pytest.mark.django_db
def test_the_two_participant_call_replays_and_is_stored_as_it_happened(
    sdk, app, monkeypatch, captured_call
):
    call = captured_call("call-2-participants.json")

    replay(sdk, monkeypatch, call)

    conference = Conference.objects.get()
    assert conference.conference_id == "run1-c1"
    assert conference.conference_name == "sdk-e2e conference 1 (run1)"
    assert conference.ongoing is False
    # First addConnection at 3.407 s, the last connection ends with the
    # second endCall at 47.882 s.
    assert conference.start_time == START + timedelta(milliseconds=3407)
    assert conference.end_time == START + timedelta(milliseconds=47882)
    assert conference.duration == 44
    assert conference.call_start is None
    assert set(conference.participants.values_list("participant_id", flat=True)) == {
        "run1-c1-u0",
        "run1-c1-u1",
    }
    assert Participant.objects.count() == 2

    sessions = {s.participant.participant_id: s for s in Session.objects.all()}
    assert set(sessions) == {"run1-c1-u0", "run1-c1-u1"}
    u0, u1 = sessions["run1-c1-u0"], sessions["run1-c1-u1"]
    assert u0.end_time == START + timedelta(milliseconds=47882)
    assert u0.duration == 47
    assert u1.end_time == START + timedelta(milliseconds=47821)
    assert u1.platform["browser"]["name"] == "Chrome Headless"
    # PUT /sessions {webrtcSdk} set it and nothing else was wiped.
    assert u1.webrtc_sdk == "livekit"
    assert u1.devices and u1.constraints
    assert u0.call_start is None and u1.call_start is None

    connections = {c.session.participant.participant_id: c for c in Connection.objects.all()}
    c0, c1 = connections["run1-c1-u0"], connections["run1-c1-u1"]
    for connection in (c0, c1):
        assert connection.type == "host"
        assert connection.state == "connected"
        negotiations = connection.connection_info["negotiations"]
        assert [n["status"] for n in negotiations] == ["connected"]
        assert negotiations[0]["type"] == "initial"
    assert c0.peer == u1.participant and c1.peer == u0.participant
    # removeConnection (with the app's peer id) ended u1's connection.
    assert c1.end_time == START + timedelta(milliseconds=47803)
    assert c0.end_time == START + timedelta(milliseconds=47882)
    assert c0.duration == 44

    # Per session: 2 local tracks from getUserMedia, 2 received (ontrack),
    # 2 sent on the connection (named by the outbound stats reports).
    for session in (u0, u1):
        tracks = Track.objects.filter(session=session)
        assert tracks.filter(connection__isnull=True, direction="outbound").count() == 2
        assert tracks.filter(connection__isnull=False, direction="inbound").count() == 2
        assert tracks.filter(connection__isnull=False, direction="outbound").count() == 2
        assert tracks.filter(kind__isnull=True).count() == 0
    # u1 stopped its camera: its local video track ended.
    stopped = Track.objects.get(session=u1, connection__isnull=True, kind="video")
    assert stopped.track_info["ended"] is True
    unmuted = Track.objects.filter(direction="inbound")
    assert all(t.track_info["muted"] is False for t in unmuted)

    assert StatsSample.objects.count() == 8
    assert StatsSample.objects.filter(connection=c0).count() == 4
    counts = {
        (category, type_): GenericEvent.objects.filter(category=category, type=type_).count()
        for category, type_ in GenericEvent.objects.values_list("category", "type").distinct()
    }
    assert counts == {
        ("getUserMedia", "getUserMedia"): 4,
        ("connection", "addConnection"): 2,
        ("connection", "peerDetails"): 2,
        ("connection", "onnegotiationneeded"): 2,
        ("connection", "onsignalingstatechange"): 4,
        ("connection", "onicegatheringstatechange"): 4,
        ("connection", "onicecandidate"): 9,
        ("connection", "oniceconnectionstatechange"): 4,
        ("connection", "onconnectionstatechange"): 4,
        ("connection", "ondatachannel"): 1,
        ("connection", "removeConnection"): 1,
        ("track", "ontrack"): 4,
        ("track", "unmute"): 4,
        ("track", "ended"): 1,
        ("browser", "custom"): 3,
        ("browser", "endCall"): 2,
    }
    # Connected seconds billed to the app: each session from its first
    # addConnection to its last connection's end.
    usage = AppUsageDay.objects.get(app=app)
    assert usage.day == START.date()
    assert usage.seconds == (47 - 3) + (47 - 3)


@pytest.mark.django_db
def test_the_three_participant_call_replays_and_is_stored_as_it_happened(
    sdk, app, monkeypatch, captured_call
):
    call = captured_call("call-3-participants.json")

    exchanges = replay(sdk, monkeypatch, call)

    assert all(response.status == 200 for _, response in exchanges)
    conference = Conference.objects.get()
    assert conference.ongoing is False
    assert conference.end_time is not None and conference.duration > 0
    assert conference.participants.count() == 3
    assert Session.objects.count() == 3
    assert Session.objects.filter(end_time__isnull=True).count() == 0
    assert Connection.objects.count() == 6
    assert Connection.objects.filter(end_time__isnull=True).count() == 0
    assert set(Connection.objects.values_list("type", flat=True)) == {"host"}
    stats_requests = [r for r in call["requests"] if r["path"] == "/v1/stats"]
    assert StatsSample.objects.count() == len(stats_requests) == 24
    for request in call["requests"]:
        if request["path"] in {"/v1/connection", "/v1/events/browser"}:
            name = request["body"]["eventName"]
            expected = sum(
                1
                for r in call["requests"]
                if r["path"] == request["path"] and r["body"]["eventName"] == name
            )
            assert GenericEvent.objects.filter(type=name).count() == expected, name
    assert Track.objects.filter(kind__isnull=True).count() == 0
