"""``POST /v1/connection`` (and ``/v1/connection/batch``): registering a peer
connection, the events of the stats library, and whose connection a
session token may write to."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from api.calls.models import Connection, Participant
from api.events.models import GenericEvent
from api.ingest.tests.fake_sdk import captured_body
from api.tenancy.models import App


def error(code: str, message: str | None = None) -> dict:
    from api.common.errors import CATALOGUE

    return {"error_code": code, "message": message or CATALOGUE[code].message}


CONNECTION_NOT_FOUND = error("connection_not_found")


@pytest.fixture
def call(page):
    alice = page("alice").join()
    bob = page("bob").join()
    return alice, bob, alice.add_connection("bob")


@pytest.mark.django_db
def test_add_connection_answers_the_server_ids_the_sdk_maps_to(page, clock):
    # Given alice and bob in a conference
    alice = page("alice").join()
    page("bob").join()

    # When alice registers her connection to bob (queued for 120 ms)
    response = alice.connection_request(
        "addConnection", peerId="bob", peerName="Bob", connectionState="new", isSfu=False, delta=120
    )

    # Then she gets the server ids of bob and of the connection
    assert response.status == 200
    assert set(response.json) == {"peer_id", "connection_id"}
    bob = Participant.objects.get(participant_id="bob")
    assert response.json["peer_id"] == str(bob.pk)
    connection = Connection.objects.get(pk=response.json["connection_id"])
    session = alice.session
    assert (connection.session, connection.participant, connection.peer) == (
        session,
        session.participant,
        bob,
    )
    assert connection.conference_id == session.conference_id
    assert connection.start_time == clock.now - timedelta(milliseconds=120)
    assert connection.state == "new"
    assert connection.type is None
    assert bob.participant_name == "Bob"
    event = GenericEvent.objects.get(type="addConnection")
    assert (event.category, event.connection, event.peer) == ("connection", connection, bob)


@pytest.mark.django_db
def test_add_connection_to_an_unknown_peer_creates_it_in_the_conference(page):
    alice = page("alice").join()

    link = alice.add_connection("sfu-1", isSfu=True, peerName="Media server")

    peer = Participant.objects.get(pk=link.peer_id)
    assert (peer.participant_id, peer.is_sfu, peer.participant_name) == (
        "sfu-1",
        True,
        "Media server",
    )
    assert peer in alice.session.conference.participants.all()


@pytest.mark.django_db
def test_a_peer_seen_as_a_user_can_later_be_an_sfu(page):
    # The original answered 500 when isSfu differed from the stored peer.
    alice = page("alice").join()
    page("bob").join()

    link = alice.add_connection("bob", isSfu=True)

    assert Participant.objects.get(pk=link.peer_id).is_sfu is True


@pytest.mark.django_db
def test_a_connection_to_oneself_is_participant_equal_peer(page):
    alice = page("alice").join()

    response = alice.connection_request("addConnection", peerId="alice", connectionState="new")

    assert (response.status, response.json) == (400, error("participant_equal_peer"))
    assert not Connection.objects.exists()


@pytest.mark.django_db
def test_add_connection_sent_to_another_route_registers_nothing(page):
    alice = page("alice").join()

    response = alice.browser_event("addConnection")

    # It is stored like any browser event; no peer named "" appears.
    assert (response.status, response.raw) == (200, b'""')
    assert not Connection.objects.exists()
    assert not Participant.objects.filter(participant_id="").exists()


@pytest.mark.django_db
def test_an_event_without_peer_id_is_missing_parameters(call):
    alice, _, link = call

    response = alice.connection_request("onicecandidate", connectionId=link.connection_id)

    assert (response.status, response.json) == (
        400,
        error("missing_parameters", "'peerId' is required."),
    )


@pytest.mark.django_db
@pytest.mark.parametrize("name", [None, ""])
def test_an_event_without_a_name_is_missing_parameters(call, name):
    alice, _, link = call

    response = alice.connection_event(link, name, data=None)

    assert (response.status, response.json) == (
        400,
        error("missing_parameters", "'eventName' is required."),
    )
    assert not GenericEvent.objects.exclude(type="addConnection").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("eventName", "x" * 65, "'eventName' is longer than 64 characters."),
        ("eventName", 7, "'eventName' must be a string."),
        ("peerId", ["bob"], "'peerId' must be a string."),
        ("peerId", "p" * 65, "'peerId' is longer than 64 characters."),
        ("delta", -5, "'delta' must be between 0 and 86400000."),
    ],
)
def test_a_malformed_field_is_invalid_parameters(call, field, value, message):
    alice, _, link = call

    response = alice.connection_event(link, "onicecandidate", data=None, **{field: value})

    assert (response.status, response.json) == (400, error("invalid_parameters", message))


STATE_EVENTS = {
    "oniceconnectionstatechange": [
        "new",
        "checking",
        "connected",
        "completed",
        "failed",
        "disconnected",
    ],
    "onconnectionstatechange": ["new", "connecting", "connected", "disconnected", "failed"],
    "onicegatheringstatechange": ["new", "gathering", "complete"],
}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "value"), [(name, value) for name, values in STATE_EVENTS.items() for value in values]
)
def test_every_state_a_browser_reports_is_accepted(call, name, value):
    alice, _, link = call

    assert alice.connection_event(link, name, value).status == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    "state",
    [
        "stable",
        "have-local-offer",
        "have-remote-offer",
        "have-local-pranswer",
        "have-remote-pranswer",
        "closed",
    ],
)
def test_every_signaling_state_is_accepted(call, state):
    alice, _, link = call

    assert alice.signaling(link, state).status == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("oniceconnectionstatechange", "bogus"),
        ("oniceconnectionstatechange", None),
        ("oniceconnectionstatechange", ["connected"]),
        ("onconnectionstatechange", "checking"),
        ("onconnectionstatechange", {"state": "connected"}),
        ("onicegatheringstatechange", "done"),
        ("onsignalingstatechange", "stable"),
        ("onsignalingstatechange", {"signalingState": "bogus"}),
        ("onsignalingstatechange", {"signalingState": ["stable"]}),
        ("onsignalingstatechange", None),
    ],
)
def test_a_state_event_with_a_state_no_browser_has_is_invalid_parameters(call, name, data):
    alice, _, link = call
    before = link.connection

    response = alice.connection_event(link, name, data)

    assert (response.status, response.json) == (
        400,
        error("invalid_parameters", f"'data' is not valid for {name}."),
    )
    assert not GenericEvent.objects.filter(type=name).exists()
    after = link.connection
    assert (after.state, after.connection_info) == (before.state, before.connection_info)


@pytest.mark.django_db
def test_events_are_stored_with_their_connection_and_peer_back_dated_by_delta(call, clock):
    alice, _, link = call
    body = captured_body("/v1/connection", "peerDetails")

    response = alice.connection_event(link, "peerDetails", body["data"], delta=585)

    assert (response.status, response.raw) == (200, b'""')
    event = GenericEvent.objects.get(type="peerDetails")
    assert (str(event.connection_id), str(event.peer_id)) == (link.connection_id, link.peer_id)
    assert event.session == alice.session
    assert event.category == "connection"
    assert event.data == body["data"]
    assert event.created_at == clock.now - timedelta(milliseconds=585)


@pytest.mark.django_db
def test_an_ice_candidate_keeps_only_the_candidate_keys(call):
    alice, _, link = call
    candidate = captured_body("/v1/connection", "onicecandidate")["data"]

    alice.connection_event(link, "onicecandidate", {**candidate, "extra": "dropped", "port": None})
    alice.connection_event(link, "onicecandidate", None)

    stored = list(GenericEvent.objects.filter(type="onicecandidate").order_by("created_at", "id"))
    assert "extra" not in stored[0].data and "port" not in stored[0].data
    # (an app that keeps addresses still loses the ICE credentials)
    assert stored[0].data["candidate"] == candidate["candidate"].replace(" ufrag 3sIN", "")
    assert "usernameFragment" not in stored[0].data
    assert stored[1].data is None


@pytest.mark.django_db
def test_device_changes_and_tab_focus_keep_their_payload(page):
    # The SDK sends these at the top level of the body; the original lost them.
    alice = page("alice").join()
    devices = captured_body("/v1/sessions")["devices"]

    alice.browser_event("mediaDeviceChange", devices=devices)
    alice.browser_event("tabFocus", focus=False)

    assert GenericEvent.objects.get(type="mediaDeviceChange").data == {"devices": devices}
    assert GenericEvent.objects.get(type="tabFocus").data == {"focus": False}


@pytest.mark.django_db
def test_an_unknown_peer_is_participant_not_found(call):
    alice, _, _ = call

    unknown_uuid = alice.connection_request("onicecandidate", peerId=str(uuid.uuid4()), data=None)
    unknown_name = alice.connection_request("onicecandidate", peerId="nobody", data=None)

    assert (unknown_uuid.status, unknown_uuid.json) == (400, error("participant_not_found"))
    assert (unknown_name.status, unknown_name.json) == (400, error("participant_not_found"))


@pytest.mark.django_db
def test_a_peer_of_another_app_is_participant_not_found(call, organization, sdk):
    from api.ingest.tests.fake_sdk import Page

    alice, _, _ = call
    other = App.objects.create(organization=organization, name="Other", api_key="b" * 32)
    Page(sdk, "eve", api_key=other.api_key).join()
    eve = Participant.objects.get(participant_id="eve")

    response = alice.connection_request("onicecandidate", peerId=str(eve.pk), data=None)

    assert (response.status, response.json) == (400, error("participant_not_found"))


@pytest.mark.django_db
def test_an_event_naming_oneself_as_peer_is_participant_equal_peer(call):
    alice, _, _ = call

    response = alice.connection_request(
        "onicecandidate", peerId=str(alice.session.participant_id), data=None
    )

    assert (response.status, response.json) == (400, error("participant_equal_peer"))


# ------------------------------------------------------- whose connection


@pytest.mark.django_db
@pytest.mark.parametrize("connection_id", ["not-a-uuid", 42, ["x"], str(uuid.uuid4()), "0" * 100])
def test_an_unknown_or_malformed_connection_id_is_connection_not_found(call, connection_id):
    alice, _, link = call

    response = alice.connection_request(
        "oniceconnectionstatechange",
        peerId=link.peer_id,
        connectionId=connection_id,
        data="checking",
    )

    assert (response.status, response.json) == (400, CONNECTION_NOT_FOUND)
    assert not GenericEvent.objects.filter(type="oniceconnectionstatechange").exists()


@pytest.mark.django_db
def test_a_session_cannot_write_to_the_connection_of_another_session_of_its_conference(call):
    # Given bob's own connection to alice
    alice, bob, alice_link = call
    bob_link = bob.add_connection("alice")

    # When alice posts an event, and then a close, for bob's connection
    changed = alice.connection_event(bob_link, "onconnectionstatechange", "failed")
    closed = alice.connection_event(bob_link, "onconnectionstatechange", "closed")
    removed = alice.remove_connection(bob_link, "bob")

    # Then each is refused and bob's connection is untouched
    for response in (changed, closed, removed):
        assert (response.status, response.json) == (400, CONNECTION_NOT_FOUND)
    connection = bob_link.connection
    assert connection.state == "new" and connection.end_time is None
    assert (
        not GenericEvent.objects.filter(connection=connection)
        .exclude(type="addConnection")
        .exists()
    )


@pytest.mark.django_db
def test_a_session_cannot_write_to_a_connection_of_another_tenant(call, organization, sdk):
    from api.ingest.tests.fake_sdk import Page

    alice, _, _ = call
    other = App.objects.create(organization=organization, name="Other", api_key="c" * 32)
    eve = Page(sdk, "eve", api_key=other.api_key, conference_id="secret").join()
    Page(sdk, "frank", api_key=other.api_key, conference_id="secret").join()
    eve_link = eve.add_connection("frank")

    response = alice.connection_event(eve_link, "onconnectionstatechange", "closed")

    assert (response.status, response.json) == (400, CONNECTION_NOT_FOUND)
    assert eve_link.connection.end_time is None


# --------------------------------------------------------------- batches


@pytest.mark.django_db
def test_a_batch_stores_each_event_back_dated_by_both_deltas(call, clock):
    alice, _, link = call
    candidate = captured_body("/v1/connection", "onicecandidate")["data"]
    items = [
        {
            "eventName": "onicecandidate",
            "peerId": link.peer_id,
            "connectionId": link.connection_id,
            "data": candidate,
            "delta": 200,
        },
        {
            "eventName": "oniceconnectionstatechange",
            "peerId": link.peer_id,
            "connectionId": link.connection_id,
            "data": "checking",
        },
    ]

    response = alice.post(
        "/v1/connection/batch", {"token": alice.token, "delta": 1000, "data": items}
    )

    assert (response.status, response.raw) == (200, b'""')
    first = GenericEvent.objects.get(type="onicecandidate")
    second = GenericEvent.objects.get(type="oniceconnectionstatechange")
    assert first.created_at == clock.now - timedelta(milliseconds=1200)
    assert second.created_at == clock.now - timedelta(milliseconds=1000)
    assert str(first.connection_id) == link.connection_id


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ("not a list", error("invalid_parameters", "'data' must be a list of events.")),
        (None, error("invalid_parameters", "'data' must be a list of events.")),
        (["x"], error("invalid_parameters", "Each event must be an object.")),
        (
            [{"eventName": "ondatachannel"}] * 501,
            error("invalid_parameters", "At most 500 events per batch."),
        ),
    ],
)
def test_a_malformed_batch_is_invalid_parameters(call, items, expected):
    alice, _, _ = call

    response = alice.post("/v1/connection/batch", {"token": alice.token, "data": items})

    assert (response.status, response.json) == (400, expected)


@pytest.mark.django_db
def test_a_batch_with_one_bad_event_stores_none_of_them(call):
    alice, bob, link = call
    bob_link = bob.add_connection("alice")
    good = {
        "eventName": "ondatachannel",
        "peerId": link.peer_id,
        "connectionId": link.connection_id,
        "data": None,
    }

    foreign = alice.post(
        "/v1/connection/batch",
        {"token": alice.token, "data": [good, {**good, "connectionId": bob_link.connection_id}]},
    )
    invalid = alice.post(
        "/v1/connection/batch",
        {
            "token": alice.token,
            "data": [good, {**good, "eventName": "onconnectionstatechange", "data": "x"}],
        },
    )

    assert (foreign.status, foreign.json) == (400, CONNECTION_NOT_FOUND)
    assert invalid.status == 400 and invalid.json["error_code"] == "invalid_parameters"
    assert not GenericEvent.objects.filter(type="ondatachannel").exists()


# ---------------------------------------------------------------- retries


@pytest.mark.django_db
def test_queued_events_carrying_a_delta_are_not_taken_for_retries(call, clock):
    # Events queued until the addConnection answer all carry a delta.
    alice, _, link = call
    details = captured_body("/v1/connection", "peerDetails")["data"]

    alice.connection_event(
        link, "peerDetails", details, timestamp="2026-11-28T16:50:52.608Z", delta=585
    )
    alice.connection_event(
        link, "onnegotiationneeded", timestamp="2026-11-28T16:50:52.613Z", delta=582
    )
    alice.connection_event(
        link, "onnegotiationneeded", timestamp="2026-11-28T16:50:52.640Z", delta=555
    )

    assert GenericEvent.objects.filter(type="peerDetails").count() == 1
    assert GenericEvent.objects.filter(type="onnegotiationneeded").count() == 2


@pytest.mark.django_db
def test_the_same_event_sent_twice_without_delta_is_stored_twice(page):
    # Two clicks on mute are two events, not a retry.
    alice = page("alice").join()

    alice.browser_event("custom", data={"eventName": "mute"})
    alice.browser_event("custom", data={"eventName": "mute"})

    assert GenericEvent.objects.filter(type="custom").count() == 2


@pytest.mark.django_db
def test_a_retried_browser_event_is_stored_once(page, clock):
    alice = page("alice").join()
    alice.browser_event("custom", data={"eventName": "mute"})

    clock.advance(seconds=8)
    alice.browser_event("custom", data={"eventName": "mute"}, delta=8000)

    assert GenericEvent.objects.filter(type="custom").count() == 1
