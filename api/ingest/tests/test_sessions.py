"""``POST /v1/sessions`` (init token → session token) and ``PUT /v1/sessions``
(session details, never wiping what the body does not carry)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from api.calls.models import Session
from api.ingest.tests.fake_sdk import captured_body

INVALID_META = {"error_code": "invalid_meta", "message": "Invalid meta."}


@pytest.mark.django_db
def test_a_session_stores_what_the_sdk_gathered(page, clock):
    alice = page("alice")
    alice.initialize()
    sent = captured_body("/v1/sessions")

    response = alice.start_session(
        appVersion="1.0.0", meta={"plan": "pro", "seats": 3, "beta": True}
    )

    assert response.status == 200
    assert set(response.json) == {"token"}
    session = Session.objects.get()
    assert session.platform == sent["platform"]
    assert session.constraints == sent["constraints"]
    assert session.devices == sent["devices"]
    assert session.app_version == "1.0.0"
    assert session.webrtc_sdk == ""
    assert session.metadata == {"plan": "pro", "seats": 3, "beta": True}
    assert session.created_at == clock.now
    assert session.end_time is None and session.duration is None
    assert session.participant.participant_id == "alice"
    assert session.conference.conference_id == "room-1"
    assert session.geo_ip == {
        "country_code": None,
        "region_code": None,
        "city": None,
        "latitude": None,
        "longitude": None,
    }


@pytest.mark.django_db
def test_delta_back_dates_the_start_of_the_session(page, clock):
    alice = page("alice")
    alice.initialize()

    alice.start_session(delta=1500)

    assert Session.objects.get().created_at == clock.now - timedelta(milliseconds=1500)


@pytest.mark.django_db
def test_app_version_and_sdk_name_are_truncated_to_16_characters(page):
    alice = page("alice")
    alice.initialize()

    alice.start_session(appVersion="1.2.3-beta.45678901", webrtcSdk="x" * 20)

    session = Session.objects.get()
    assert session.app_version == "1.2.3-beta.45678"
    assert session.webrtc_sdk == "x" * 16


@pytest.mark.django_db
@pytest.mark.parametrize(
    "meta",
    [
        {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6},  # more than 5 keys
        {"k" * 65: 1},  # key too long
        {"a": "v" * 128},  # value too long
        {"a": 1.5},  # float
        {"a": None},
        {"a": {"nested": 1}},
        {"a": [1]},
        "plan=pro",
        ["plan"],
        42,
    ],
)
def test_meta_outside_the_sdk_limits_is_invalid_meta(page, meta):
    alice = page("alice")
    alice.initialize()

    response = alice.start_session(meta=meta)

    assert (response.status, response.json) == (400, INVALID_META)
    assert not Session.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("meta", [None, {}, {"k" * 64: "v" * 127, "b": False, "c": -3}])
def test_meta_within_the_sdk_limits_is_stored(page, meta):
    alice = page("alice")
    alice.initialize()

    assert alice.start_session(meta=meta).status == 200

    assert Session.objects.get().metadata == (meta or None)


@pytest.mark.django_db
@pytest.mark.parametrize(("key", "value"), [("appVersion", 1), ("webrtcSdk", ["livekit"])])
def test_a_wrongly_typed_session_field_is_invalid_parameters(page, key, value):
    alice = page("alice")
    alice.initialize()

    response = alice.start_session(**{key: value})

    assert (response.status, response.json) == (
        400,
        {"error_code": "invalid_parameters", "message": f"'{key}' must be a string."},
    )
    assert not Session.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("delta", "message"),
    [
        (-1, "'delta' must be between 0 and 86400000."),
        (86_400_001, "'delta' must be between 0 and 86400000."),
        (True, "'delta' must be a number of milliseconds."),
        ("5", "'delta' must be a number of milliseconds."),
    ],
)
def test_a_delta_out_of_range_is_invalid_parameters(page, delta, message):
    alice = page("alice")
    alice.initialize()

    response = alice.start_session(delta=delta)

    assert (response.status, response.json) == (
        400,
        {"error_code": "invalid_parameters", "message": message},
    )
    assert not Session.objects.exists()


@pytest.mark.django_db
def test_put_answers_the_session_and_changes_only_what_the_body_carries(page):
    # Given a session that an integration has named (PUT {webrtcSdk})
    alice = page("alice").join()
    assert alice.put("/v1/sessions", {"webrtcSdk": "livekit", "token": alice.token}).status == 200
    before = Session.objects.get()

    # When a getUserMedia reveals new devices (PUT {devices})
    devices = [{"deviceId": "new", "kind": "videoinput", "label": "USB camera", "groupId": "g"}]
    response = alice.put("/v1/sessions", {"devices": devices, "token": alice.token})

    # Then only the devices changed
    assert response.status == 200
    data = response.json["data"]
    assert data["devices"] == devices
    assert data["webrtc_sdk"] == "livekit"
    assert data["id"] == str(before.pk)
    assert set(data) == {
        "id",
        "conference",
        "participant",
        "constraints",
        "devices",
        "platform",
        "metadata",
        "geo_ip",
        "app_version",
        "webrtc_sdk",
        "session_info",
        "duration",
        "end_time",
        "call_start",
        "created_at",
    }
    after = Session.objects.get()
    assert after.devices == devices
    assert after.webrtc_sdk == "livekit"
    assert (after.platform, after.constraints, after.metadata, after.app_version) == (
        before.platform,
        before.constraints,
        before.metadata,
        before.app_version,
    )


@pytest.mark.django_db
def test_put_with_nothing_to_change_changes_nothing(page):
    alice = page("alice").join()
    before = Session.objects.values().get()

    response = alice.put("/v1/sessions", {"token": alice.token})

    assert response.status == 200
    assert Session.objects.values().get() == before


@pytest.mark.django_db
def test_put_with_bad_meta_is_refused_and_changes_nothing(page):
    alice = page("alice").join()

    response = alice.put("/v1/sessions", {"devices": [], "meta": {"a": 1.5}, "token": alice.token})

    assert (response.status, response.json) == (400, INVALID_META)
    assert Session.objects.get().devices != []


@pytest.mark.django_db
def test_post_with_a_session_id_in_the_path_is_not_a_route(page):
    alice = page("alice").join()

    response = alice.post(f"/v1/sessions/{alice.session.pk}", {"token": alice.token})

    assert response.status in (404, 405)
    assert "error_code" in response.json
