"""``POST /v1/services/get-url`` and ``POST /v1/services/stop-conference``
(called with the api key, by the SDK's static helper and by customers'
servers)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from api.calls.models import Conference, Connection, Participant, Session
from api.common.errors import CATALOGUE
from api.tenancy.models import App, Organization
from conftest import CAPTURED_API_KEY


def error(code: str, message: str | None = None) -> dict:
    return {"error_code": code, "message": message or CATALOGUE[code].message}


@pytest.fixture
def call(page):
    alice = page("alice").join()
    bob = page("bob").join()
    return alice, bob, alice.add_connection("bob"), bob.add_connection("alice")


# ------------------------------------------------------------------ get-url


@pytest.mark.django_db
def test_get_url_links_to_the_conference_page(sdk, call, settings):
    settings.CONFIG = replace(settings.CONFIG, web_domain="monitor.example.com")
    conference = Conference.objects.get()

    response = sdk.post(
        "/v1/services/get-url", {"apiKey": CAPTURED_API_KEY, "conferenceId": "room-1"}
    )

    assert (response.status, response.json) == (
        200,
        {"url": f"https://monitor.example.com/conference/{conference.pk}"},
    )


@pytest.mark.django_db
def test_get_url_links_to_the_participant_page(sdk, call, settings):
    settings.CONFIG = replace(settings.CONFIG, web_domain="monitor.example.com")
    alice = Participant.objects.get(participant_id="alice")

    response = sdk.post("/v1/services/get-url", {"apiKey": CAPTURED_API_KEY, "userId": "alice"})

    assert response.json == {"url": f"https://monitor.example.com/participant/{alice.pk}"}


@pytest.mark.django_db
def test_get_url_prefers_the_conference_and_uses_this_server_without_a_web_domain(
    sdk, call, settings
):
    settings.CONFIG = replace(settings.CONFIG, web_domain="")
    conference = Conference.objects.get()

    response = sdk.post(
        "/v1/services/get-url",
        {"apiKey": CAPTURED_API_KEY, "conferenceId": "room-1", "userId": "alice"},
    )

    assert response.json == {"url": f"http://testserver/conference/{conference.pk}"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, error("missing_parameters")),
        ({"conferenceId": "room-1"}, error("missing_parameters")),
        ({"userId": "alice"}, error("missing_parameters")),
        ({"conferenceId": "room-1", "userId": "alice"}, error("invalid_api_key")),
        ({"apiKey": "short", "conferenceId": "room-1"}, error("invalid_api_key")),
        ({"apiKey": "e" * 32, "conferenceId": "room-1"}, error("invalid_api_key")),
        ({"apiKey": 5, "conferenceId": "room-1"}, error("invalid_api_key")),
        (
            {"apiKey": CAPTURED_API_KEY},
            error("missing_parameters", "'conferenceId' or 'userId' is required."),
        ),
        ({"apiKey": CAPTURED_API_KEY, "conferenceId": "nope"}, error("conference_not_found")),
        ({"apiKey": CAPTURED_API_KEY, "userId": "nobody"}, error("participant_not_found")),
        (
            {"apiKey": CAPTURED_API_KEY, "conferenceId": 5},
            error("invalid_parameters", "'conferenceId' must be a string."),
        ),
        (
            {"apiKey": CAPTURED_API_KEY, "userId": ["alice"]},
            error("invalid_parameters", "'userId' must be a string."),
        ),
    ],
)
def test_get_url_errors(sdk, call, body, expected):
    response = sdk.post("/v1/services/get-url", body)

    assert (response.status, response.json) == (400, expected)


@pytest.mark.django_db
def test_get_url_does_not_find_the_conferences_of_another_app(sdk, call, organization):
    other = App.objects.create(organization=organization, name="Other", api_key="9" * 32)

    response = sdk.post("/v1/services/get-url", {"apiKey": other.api_key, "conferenceId": "room-1"})

    assert (response.status, response.json) == (400, error("conference_not_found"))


# --------------------------------------------------------- stop-conference


@pytest.mark.django_db
def test_stop_conference_ends_every_connection_and_session_now(sdk, call, clock):
    # Given a call running for a minute
    alice, bob, alice_link, bob_link = call
    started = clock.now
    clock.advance(minutes=1)

    # When the customer's server stops it
    response = sdk.post(
        "/v1/services/stop-conference", {"apiKey": CAPTURED_API_KEY, "conferenceId": "room-1"}
    )

    # Then everything of it ended now
    assert (response.status, response.json) == (200, {})
    conference = Conference.objects.get()
    assert conference.ongoing is False
    assert conference.end_time == clock.now
    assert conference.duration == 60
    assert conference.start_time == started
    for connection in Connection.objects.all():
        assert (connection.end_time, connection.duration) == (clock.now, 60)
    for session in Session.objects.all():
        assert session.end_time == clock.now
        assert session.duration == 60
        assert session.call_start is None

    # And the SDKs are told to stop sending stats
    for page, link in ((alice, alice_link), (bob, bob_link)):
        stats = page.stats(link)
        assert (stats.status, stats.json) == (400, error("connection_ended"))


@pytest.mark.django_db
def test_stopping_a_stopped_conference_changes_nothing(sdk, call, clock):
    body = {"apiKey": CAPTURED_API_KEY, "conferenceId": "room-1"}
    clock.advance(seconds=30)
    sdk.post("/v1/services/stop-conference", body)
    before = Conference.objects.values().get()

    clock.advance(minutes=5)
    response = sdk.post("/v1/services/stop-conference", body)

    assert response.status == 200
    assert Conference.objects.values().get() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, error("missing_parameters")),
        ({"apiKey": CAPTURED_API_KEY}, error("missing_parameters")),
        ({"conferenceId": "room-1"}, error("missing_parameters")),
        ({"apiKey": "x" * 32, "conferenceId": "room-1"}, error("invalid_api_key")),
        ({"apiKey": "f" * 32, "conferenceId": "room-1"}, error("invalid_api_key")),
        ({"apiKey": CAPTURED_API_KEY, "conferenceId": "nope"}, error("conference_not_found")),
        (
            {"apiKey": CAPTURED_API_KEY, "conferenceId": {"id": 1}},
            error("invalid_parameters", "'conferenceId' must be a string."),
        ),
    ],
)
def test_stop_conference_errors_leave_the_call_running(sdk, call, body, expected):
    response = sdk.post("/v1/services/stop-conference", body)

    assert (response.status, response.json) == (400, expected)
    assert Conference.objects.get().ongoing is True


@pytest.mark.django_db
def test_an_app_cannot_stop_the_conference_of_another_app(sdk, call, organization):
    other = App.objects.create(organization=organization, name="Other", api_key="8" * 32)

    response = sdk.post(
        "/v1/services/stop-conference", {"apiKey": other.api_key, "conferenceId": "room-1"}
    )

    assert (response.status, response.json) == (400, error("conference_not_found"))
    assert Conference.objects.get().ongoing is True


@pytest.mark.django_db
@pytest.mark.parametrize("route", ["/v1/services/get-url", "/v1/services/stop-conference"])
def test_the_key_of_a_deactivated_app_or_organization_is_invalid(sdk, call, route):
    body = {"apiKey": CAPTURED_API_KEY, "conferenceId": "room-1"}
    App.objects.update(is_active=False)
    assert sdk.post(route, body).json == error("invalid_api_key")

    App.objects.update(is_active=True)
    Organization.objects.update(is_active=False)
    assert sdk.post(route, body).json == error("invalid_api_key")
    assert Conference.objects.get().ongoing is True


@pytest.mark.django_db
def test_stop_conference_is_not_back_dated_by_a_delta(sdk, call, clock):
    clock.advance(seconds=10)

    sdk.post(
        "/v1/services/stop-conference",
        {"apiKey": CAPTURED_API_KEY, "conferenceId": "room-1", "delta": 5000},
    )

    assert Conference.objects.get().end_time == clock.now
    assert clock.now - Conference.objects.get().start_time == timedelta(seconds=10)
