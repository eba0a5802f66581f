"""CORS on the SDK routes: the SDK runs on the customer's pages, so every
answer it reads must allow the page's origin, and its ``PUT`` requests are
preflighted. Other routes do not open up to any origin."""

from __future__ import annotations

import json

import pytest

from api.ingest.tests.fake_sdk import captured_body

ORIGIN = "https://app.customer.example"


def _preflight(client, path: str, method: str, origin: str = ORIGIN):
    return client.options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD=method,
    )


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/v1/sessions", "/v1/tracks", "/sessions", "/tracks"])
def test_the_put_preflight_is_answered_with_the_methods(client, path):
    response = _preflight(client, path, "PUT")

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    methods = {m.strip() for m in response["Access-Control-Allow-Methods"].split(",")}
    assert {"POST", "PUT", "OPTIONS"} <= methods
    assert response["Access-Control-Max-Age"] == "86400"
    # The SDK sends no credentials; none are allowed.
    assert "Access-Control-Allow-Credentials" not in response


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/v1/initialize", "/v1/connection", "/v1/stats", "/v1/events/browser"]
)
def test_a_post_preflight_is_answered_too(client, path):
    # The SDK's text/plain POSTs need none, a client sending JSON does.
    response = _preflight(client, path, "POST")

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ORIGIN


@pytest.mark.django_db
def test_every_answer_of_an_sdk_route_echoes_the_origin_errors_included(page):
    alice = page("alice", origin=ORIGIN)

    answers = [
        alice.initialize(),
        alice.start_session(),
        alice.browser_event("custom", data={"x": 1}),
        alice.put("/v1/sessions", {"webrtcSdk": "janus", "token": alice.token}),
        alice.post("/v1/stats", {"token": alice.token, "connectionId": "nope", "data": {}}),
        alice.post("/v1/stats", {"token": "forged"}),
        alice.sdk.send("POST", "/v1/stats", None, raw=b"{", origin=ORIGIN),
        alice.initialize(apiKey="0" * 32),
    ]

    statuses = [response.status for response in answers]
    assert statuses == [200, 200, 200, 200, 400, 401, 400, 400]
    for response in answers:
        assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert "origin" in response.headers["Vary"].lower()
        assert "Access-Control-Allow-Credentials" not in response.headers


@pytest.mark.django_db
def test_an_oversized_body_is_refused_with_the_origin_echoed(sdk, app, settings):
    response = sdk.send(
        "POST",
        "/v1/stats",
        None,
        raw=b'{"x": "' + b"y" * settings.CONFIG.max_body_bytes + b'"}',
        origin=ORIGIN,
    )

    assert response.status == 413
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


@pytest.mark.django_db
def test_an_unload_beacon_is_accepted(page):
    # navigator.sendBeacon: text/plain;charset=UTF-8, no preflight.
    alice = page("alice", origin=ORIGIN).join()

    response = alice.sdk.client.post(
        "/v1/events/browser",
        data=json.dumps({"token": alice.token, "eventName": "unload"}),
        content_type="text/plain;charset=UTF-8",
        HTTP_ORIGIN=ORIGIN,
        HTTP_SEC_FETCH_MODE="no-cors",
    )

    assert response.status_code == 200
    assert alice.session.end_time is not None


@pytest.mark.django_db
def test_a_route_outside_the_sdk_does_not_allow_a_foreign_origin(client):
    preflight = _preflight(client, "/v1/sessions", "GET")
    health = client.get("/health", HTTP_ORIGIN=ORIGIN)

    assert "Access-Control-Allow-Origin" not in preflight
    assert "Access-Control-Allow-Origin" not in health


@pytest.mark.django_db
def test_a_preflight_for_a_method_the_sdk_never_uses_is_not_allowed(client):
    response = _preflight(client, "/v1/tracks", "DELETE")

    assert "Access-Control-Allow-Origin" not in response


@pytest.mark.django_db
def test_the_captured_origin_is_echoed_on_a_captured_request(page):
    alice = page("alice")  # the origin the captured call ran on

    response = alice.post("/v1/initialize", {**captured_body("/v1/initialize")})

    assert response.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:18080"
