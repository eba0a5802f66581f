"""``POST /v1/tracks`` (``ontrack``) and ``PUT /v1/tracks`` (mute, unmute,
ended, ...): tracks of the session's own connections only, retries stored
once, and a state change that overtakes its ``ontrack``."""

from __future__ import annotations

from datetime import timedelta

import pytest

from api.calls.models import Track
from api.events.models import GenericEvent
from api.ingest.tests.fake_sdk import captured_body


def error(code: str, message: str | None = None) -> dict:
    from api.common.errors import CATALOGUE

    return {"error_code": code, "message": message or CATALOGUE[code].message}


TRACK_KEYS = {
    "id",
    "session",
    "connection",
    "kind",
    "direction",
    "track_id",
    "label",
    "track_info",
    "created_at",
}


@pytest.fixture
def call(page):
    alice = page("alice").join()
    bob = page("bob").join()
    return alice, bob, alice.add_connection("bob")


def _local_track_ids() -> dict[str, str]:
    data = captured_body("/v1/events/get-user-media", "getUserMedia", nth=1)["data"]
    return {kind: data[kind][0]["id"] for kind in ("audio", "video")}


@pytest.mark.django_db
def test_ontrack_creates_the_received_track_and_answers_it(call, clock):
    alice, _, link = call
    sent = captured_body("/v1/tracks", "ontrack")["data"]

    response = alice.ontrack(link, "remote-a", "audio")

    assert response.status == 200
    data = response.json["data"]
    assert set(data) == TRACK_KEYS
    track = Track.objects.get(track_id="remote-a")
    assert data["id"] == str(track.pk)
    assert (data["kind"], data["direction"], data["label"]) == ("audio", "inbound", "remote audio")
    assert data["connection"] == link.connection_id
    assert data["session"] == str(alice.session.pk)
    assert track.track_info["muted"] is sent["muted"]
    assert track.track_info["settings"] == sent["settings"]
    assert track.track_info["ended"] is False
    event = GenericEvent.objects.get(type="ontrack")
    assert (event.category, event.track, str(event.connection_id), str(event.peer_id)) == (
        "track",
        track,
        link.connection_id,
        link.peer_id,
    )
    assert event.created_at == clock.now


@pytest.mark.django_db
def test_a_retried_ontrack_is_stored_once(call, clock):
    alice, _, link = call
    alice.ontrack(link, "remote-a")

    clock.advance(seconds=2)
    retry = alice.ontrack(link, "remote-a", delta=2000)

    assert retry.status == 200
    assert Track.objects.filter(track_id="remote-a").count() == 1
    assert GenericEvent.objects.filter(type="ontrack").count() == 1


@pytest.mark.django_db
def test_a_retried_state_change_is_stored_once_and_back_dated(call, clock):
    alice, _, link = call
    alice.ontrack(link, "remote-a")
    mute_time = clock.advance(seconds=1)
    alice.track_state("remote-a", "mute", link)

    clock.advance(seconds=4)
    retry = alice.track_state("remote-a", "mute", link, delta=4000)

    assert retry.status == 200
    mute = GenericEvent.objects.get(type="mute")
    assert mute.created_at == mute_time


@pytest.mark.django_db
def test_a_queued_state_change_is_back_dated_by_delta(call, clock):
    alice, _, link = call
    alice.ontrack(link, "remote-a")

    alice.track_state("remote-a", "unmute", link, delta=750)

    event = GenericEvent.objects.get(type="unmute")
    assert event.created_at == clock.now - timedelta(milliseconds=750)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ("mute", {"muted": True}),
        ("unmute", {"muted": False}),
        ("ended", {"ended": True, "readyState": "ended"}),
    ],
)
def test_a_state_change_updates_the_track(call, event, expected):
    alice, _, link = call
    alice.ontrack(link, "remote-a")

    response = alice.track_state("remote-a", event, link)

    assert response.status == 200
    assert set(response.json["data"]) == TRACK_KEYS
    info = Track.objects.get(track_id="remote-a").track_info
    assert {key: info[key] for key in expected} == expected
    assert GenericEvent.objects.get(type=event).track.track_id == "remote-a"


@pytest.mark.django_db
def test_other_track_events_are_stored_and_change_nothing(call):
    alice, _, link = call
    alice.ontrack(link, "remote-a")
    before = Track.objects.get(track_id="remote-a").track_info

    response = alice.track_state("remote-a", "overconstrained", link, data={"constraint": "width"})

    assert response.status == 200
    assert Track.objects.get(track_id="remote-a").track_info == before
    assert GenericEvent.objects.get(type="overconstrained").data == {"constraint": "width"}


@pytest.mark.django_db
def test_a_local_track_is_changed_without_a_connection(call):
    # Given alice's camera track from getUserMedia
    alice, _, _ = call
    alice.get_user_media()
    camera = _local_track_ids()["video"]

    # When she stops it (the SDK sends no connectionId for local tracks)
    response = alice.track_state(camera, "ended", data={"check": "readyState"})

    # Then her local track ended
    assert response.status == 200
    track = Track.objects.get(track_id=camera)
    assert track.connection is None and track.direction == "outbound"
    assert track.track_info["ended"] is True


@pytest.mark.django_db
def test_a_state_change_for_an_unknown_local_track_is_track_not_found(call):
    alice, _, _ = call

    response = alice.track_state("no-such-track", "mute")

    assert (response.status, response.json) == (400, error("track_not_found"))


@pytest.mark.django_db
def test_unmute_that_overtakes_its_ontrack_is_kept_and_ontrack_fills_the_track_in(call):
    # The SDK does not wait between requests: a remote track's unmute can
    # arrive before the ontrack that describes it (the original answered
    # track_not_found and the SDK retried).
    alice, _, link = call
    unmute = alice.track_state("remote-v", "unmute", link)

    assert unmute.status == 200
    bare = Track.objects.get(track_id="remote-v")
    assert bare.kind is None and bare.track_info == {"muted": False}

    # ontrack describes the track as it was when it arrived: muted
    ontrack = alice.ontrack(link, "remote-v", "video")

    assert ontrack.status == 200
    track = Track.objects.get(track_id="remote-v")
    assert track.pk == bare.pk
    assert (track.kind, track.label, track.direction) == ("video", "remote video", "inbound")
    assert track.track_info["muted"] is False  # the later unmute wins
    assert (
        track.track_info["settings"] == captured_body("/v1/tracks", "ontrack")["data"]["settings"]
    )
    assert GenericEvent.objects.filter(track=track).count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"trackId": None}, error("missing_parameters", "'trackId' is required.")),
        ({"trackId": ""}, error("missing_parameters", "'trackId' is required.")),
        ({"trackId": 5}, error("invalid_parameters", "'trackId' must be a string.")),
        (
            {"trackId": "t" * 65},
            error("invalid_parameters", "'trackId' is longer than 64 characters."),
        ),
        ({"connectionId": None}, error("missing_parameters", "'connectionId' is required.")),
        ({"connectionId": "nope"}, error("connection_not_found")),
        ({"data": None}, error("invalid_parameters", "'data' must describe the track.")),
        ({"data": ["audio"]}, error("invalid_parameters", "'data' must describe the track.")),
        (
            {"data": {"kind": "screen"}},
            error("invalid_parameters", "'data.kind' must be 'audio' or 'video'."),
        ),
        (
            {"data": {"kind": ["audio"]}},
            error("invalid_parameters", "'data.kind' must be 'audio' or 'video'."),
        ),
        ({"data": {}}, error("invalid_parameters", "'data.kind' must be 'audio' or 'video'.")),
        ({"event": 3}, error("invalid_parameters", "'event' must be a string.")),
    ],
)
def test_a_malformed_ontrack_is_refused(call, fields, expected):
    alice, _, link = call

    response = alice.ontrack(link, "remote-a", **fields)

    assert (response.status, response.json) == (400, expected)
    assert not Track.objects.filter(connection__isnull=False).exists()
    assert not GenericEvent.objects.filter(category="track").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"event": None}, error("missing_parameters", "'event' is required.")),
        ({"event": ""}, error("missing_parameters", "'event' is required.")),
        ({"trackId": None}, error("missing_parameters", "'trackId' is required.")),
        ({"connectionId": "00000000-0000-0000-0000-000000000000"}, error("connection_not_found")),
        (
            {"delta": "later"},
            error("invalid_parameters", "'delta' must be a number of milliseconds."),
        ),
    ],
)
def test_a_malformed_state_change_is_refused(call, fields, expected):
    alice, _, link = call
    alice.ontrack(link, "remote-a")
    alice.track_state("remote-a", "unmute", link)

    response = alice.track_state("remote-a", "mute", link, **fields)

    assert (response.status, response.json) == (400, expected)
    assert Track.objects.get(track_id="remote-a").track_info["muted"] is False


@pytest.mark.django_db
def test_ontrack_with_an_unusual_label_or_direction_keeps_safe_values(call):
    alice, _, link = call
    data = {
        **captured_body("/v1/tracks", "ontrack")["data"],
        "label": ["x"],
        "direction": "sideways",
    }

    response = alice.ontrack(link, "remote-a", data=data)

    assert response.status == 200
    track = Track.objects.get(track_id="remote-a")
    assert (track.label, track.direction) == (None, "inbound")


# ------------------------------------------------------- whose tracks


@pytest.mark.django_db
def test_a_session_cannot_add_or_change_tracks_of_another_sessions_connection(call):
    # Given bob's connection with a received track
    alice, bob, _ = call
    bob_link = bob.add_connection("alice")
    assert bob.ontrack(bob_link, "bobs-track").status == 200
    assert bob.track_state("bobs-track", "unmute", bob_link).status == 200

    # When alice posts an ontrack and a mute for bob's connection
    added = alice.ontrack(bob_link, "intruder")
    muted = alice.track_state("bobs-track", "mute", bob_link)

    # Then both are refused, nothing changed
    assert (added.status, added.json) == (400, error("connection_not_found"))
    assert (muted.status, muted.json) == (400, error("connection_not_found"))
    assert not Track.objects.filter(track_id="intruder").exists()
    assert Track.objects.get(track_id="bobs-track").track_info["muted"] is False


@pytest.mark.django_db
def test_a_session_cannot_change_the_local_tracks_of_another_session(call):
    alice, bob, _ = call
    bob.get_user_media()
    camera = _local_track_ids()["video"]

    response = alice.track_state(camera, "ended")

    assert (response.status, response.json) == (400, error("track_not_found"))
    assert Track.objects.get(track_id=camera).track_info["ended"] is False


@pytest.mark.django_db
def test_get_user_media_creates_the_local_tracks_once(call):
    alice, _, _ = call
    alice.get_user_media(nth=0)  # the constraints: no tracks yet

    alice.get_user_media()
    alice.get_user_media()  # the same tracks reported again

    local = Track.objects.filter(session=alice.session, connection__isnull=True)
    ids = _local_track_ids()
    assert sorted((t.kind, t.track_id) for t in local) == sorted(ids.items())
    assert all(t.direction == "outbound" for t in local)


@pytest.mark.django_db
def test_a_session_cannot_touch_the_tracks_of_another_tenants_connection(call, organization, sdk):
    from api.ingest.tests.fake_sdk import Page
    from api.tenancy.models import App

    alice, _, _ = call
    other = App.objects.create(organization=organization, name="Other", api_key="7" * 32)
    eve = Page(sdk, "eve", api_key=other.api_key).join()
    Page(sdk, "frank", api_key=other.api_key).join()
    eve_link = eve.add_connection("frank")
    eve.ontrack(eve_link, "eves-track")

    added = alice.ontrack(eve_link, "intruder")
    ended = alice.track_state("eves-track", "ended", eve_link)

    assert (added.status, added.json) == (400, error("connection_not_found"))
    assert (ended.status, ended.json) == (400, error("connection_not_found"))
    assert Track.objects.get(track_id="eves-track").track_info["ended"] is False
