"""``POST /v1/initialize``: the api key, the recording flag, the app's domain
restriction, and what the SDK reads from the answer."""

from __future__ import annotations

import time

import pytest

from api.calls.models import Conference, Participant
from api.ingest.tests.fake_sdk import captured_body
from api.tenancy.models import App, Organization


def _body(**overrides):
    body = captured_body("/v1/initialize")
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def error(code: str, message: str) -> dict:
    return {"error_code": code, "message": message}


MISSING = error("missing_parameters", "Some parameters are missing from the request.")
BAD_KEY = error("invalid_api_key", "Invalid api key.")


@pytest.mark.django_db
def test_the_answer_has_what_the_sdk_reads_and_no_urls(sdk, app):
    app.interval = 2500
    app.save()

    response = sdk.post("/v1/initialize", _body())

    assert response.status == 200
    assert set(response.json) == {"token", "getStatsInterval", "batchConnectionEvents", "time"}
    # The app's interval, an integer (the stats library throws on a float).
    assert response.json["getStatsInterval"] == 2500
    assert isinstance(response.json["getStatsInterval"], int)
    # Batching breaks addConnection in SDK 2.7; `urls` breaks every path.
    assert response.json["batchConnectionEvents"] is False
    assert abs(response.json["time"] - time.time()) < 60
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"


@pytest.mark.django_db
def test_the_route_also_answers_without_the_v1_prefix(sdk, app):
    assert sdk.post("/initialize", _body()).status == 200
    assert sdk.post("/v1/initialize/", _body()).status == 404


@pytest.mark.django_db
def test_it_creates_the_conference_and_the_participant_and_links_them(sdk, app):
    sdk.post("/v1/initialize", _body())

    conference = Conference.objects.get()
    participant = Participant.objects.get()
    assert (conference.app, conference.conference_id) == (app, "run1-c1")
    assert conference.conference_name == "sdk-e2e conference 1 (run1)"
    assert conference.ongoing is False and conference.start_time is None
    assert (participant.participant_id, participant.participant_name) == (
        "run1-c1-u0",
        "Participant 0 of conference 1",
    )
    assert list(conference.participants.all()) == [participant]


@pytest.mark.django_db
def test_a_second_participant_joins_the_same_conference(sdk, app):
    sdk.post("/v1/initialize", _body())
    sdk.post("/v1/initialize", _body(userId="run1-c1-u1", userName="Bob"))

    conference = Conference.objects.get()
    assert conference.participants.count() == 2


@pytest.mark.django_db
def test_names_are_updated_when_given_and_kept_when_not(sdk, app):
    sdk.post("/v1/initialize", _body())
    sdk.post("/v1/initialize", _body(conferenceName="Renamed", userName="Alice"))
    sdk.post("/v1/initialize", _body(conferenceName=..., userName=...))

    assert Conference.objects.get().conference_name == "Renamed"
    assert Participant.objects.get().participant_name == "Alice"


@pytest.mark.django_db
def test_the_same_ids_in_another_app_are_another_conference_and_participant(sdk, app, organization):
    other = App.objects.create(organization=organization, name="Other", api_key="a" * 32)

    sdk.post("/v1/initialize", _body())
    sdk.post("/v1/initialize", _body(apiKey=other.api_key))

    assert Conference.objects.count() == 2
    assert Participant.objects.count() == 2


@pytest.mark.django_db
def test_long_ids_and_names_are_truncated_to_64_characters(sdk, app):
    response = sdk.post(
        "/v1/initialize",
        _body(
            conferenceId="c" * 100, conferenceName="n" * 100, userId="u" * 100, userName="m" * 100
        ),
    )

    assert response.status == 200
    conference, participant = Conference.objects.get(), Participant.objects.get()
    assert conference.conference_id == "c" * 64 and conference.conference_name == "n" * 64
    assert participant.participant_id == "u" * 64 and participant.participant_name == "m" * 64


@pytest.mark.django_db
@pytest.mark.parametrize(
    "overrides",
    [
        {"conferenceId": ...},
        {"userId": ...},
        {"apiKey": ...},
        {"conferenceId": ""},
        {"userId": ""},
        {"apiKey": ""},
        {"conferenceId": None},
        {"apiKey": None},
    ],
)
def test_a_missing_required_parameter_is_missing_parameters(sdk, app, overrides):
    response = sdk.post("/v1/initialize", _body(**overrides))

    assert (response.status, response.json) == (400, MISSING)
    assert not Conference.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["conferenceId", "conferenceName", "userId", "userName"])
@pytest.mark.parametrize("value", [42, 1.5, True, ["a"], {"a": 1}])
def test_an_id_or_name_that_is_not_a_string_is_invalid_parameters(sdk, app, key, value):
    response = sdk.post("/v1/initialize", _body(**{key: value}))

    assert (response.status, response.json) == (
        400,
        error("invalid_parameters", f"'{key}' must be a string."),
    )
    assert not Conference.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "api_key",
    [
        "0123456789abcdef0123456789abcde",  # 31 characters
        "0123456789abcdef0123456789abcdef0",  # 33
        "0123456789ABCDEF0123456789ABCDEF",  # upper case
        "0123456789abcdef-123456789abcdef",
        "ffffffffffffffffffffffffffffffff",  # well formed, unknown
        12345678901234567890123456789012,
        ["0123456789abcdef0123456789abcdef"],
    ],
)
def test_a_malformed_or_unknown_api_key_is_invalid_api_key(sdk, app, api_key):
    response = sdk.post("/v1/initialize", _body(apiKey=api_key))

    assert (response.status, response.json) == (400, BAD_KEY)
    assert not Conference.objects.exists()


@pytest.mark.django_db
def test_the_key_of_a_deactivated_app_or_organization_is_invalid(sdk, app):
    App.objects.filter(pk=app.pk).update(is_active=False)
    assert (sdk.post("/v1/initialize", _body()).json) == BAD_KEY

    App.objects.filter(pk=app.pk).update(is_active=True)
    Organization.objects.filter(pk=app.organization_id).update(is_active=False)
    assert (sdk.post("/v1/initialize", _body()).json) == BAD_KEY


@pytest.mark.django_db
def test_an_app_that_is_not_recording_refuses_new_calls(sdk, app):
    # Given an app with recording off (and a domain the page is not on: the
    # recording flag is checked first, as the original did)
    app.recording = False
    app.domain = "example.com"
    app.save()

    response = sdk.post("/v1/initialize", _body())

    assert (response.status, response.json) == (
        400,
        error("app_not_recording", "The requested app is not recording."),
    )
    assert not Conference.objects.exists()


@pytest.mark.django_db
def test_get_on_the_route_is_method_not_allowed(client, app):
    response = client.get("/v1/initialize")

    assert response.status_code == 405
    assert response.json() == error("method_not_allowed", "Method not allowed.")


DOMAIN_NOT_ALLOWED = error("domain_not_allowed", "The app does not allow this domain.")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("domain", "origin", "allowed"),
    [
        ("example.com", "https://example.com", True),
        ("example.com", "http://example.com:8443", True),  # scheme and port ignored
        ("example.com", "https://EXAMPLE.com", True),
        ("Example.COM", "https://example.com", True),
        ("example.com", "https://sub.example.com", False),
        ("example.com", "https://example.com.evil.net", False),
        ("example.com", "https://notexample.com", False),
        ("example.com", "null", False),
        ("example.com", None, False),
        ("example.com", "", False),
        ("example.com", "http://[::1", False),  # malformed
        ("example.com", "https://", False),
        ("*.example.com", "https://meet.example.com", True),
        ("*.example.com", "https://a.b.example.com", True),
        ("*.example.com", "https://example.com", False),
        ("*.example.com", "https://badexample.com", False),
        ("*.example.com", "https://example.com.evil.net", False),
        ("localhost", "http://localhost:3000", True),
        ("localhost", "http://127.0.0.1:3000", False),
        ("127.0.0.1", "http://127.0.0.1:18080", True),
        ("10.0.0.7:8080", "http://10.0.0.7", True),
        ("[::1]", "http://[::1]:8080", True),
        ("::1", "http://[::1]:8080", True),
        ("https://example.com/", "https://example.com", True),
        ("example.com, meet.example.org", "https://meet.example.org", True),
        ("example.com meet.example.org", "https://example.com", True),
        ("example.com, meet.example.org", "https://example.org", False),
    ],
)
def test_the_app_domain_restricts_the_pages_that_may_initialize(sdk, app, domain, origin, allowed):
    # Given an app restricted to a domain
    app.domain = domain
    app.save()

    # When a page of that origin initializes
    response = sdk.post("/v1/initialize", _body(), origin=origin)

    # Then it is allowed only on a matching host
    if allowed:
        assert response.status == 200, response
    else:
        assert (response.status, response.json) == (403, DOMAIN_NOT_ALLOWED)
        assert not Conference.objects.exists()


@pytest.mark.django_db
def test_an_app_without_a_domain_takes_any_origin_or_none(sdk, app):
    assert sdk.post("/v1/initialize", _body(), origin="https://anywhere.example").status == 200
    assert sdk.post("/v1/initialize", _body(), origin=None).status == 200
