"""Input an attacker or a careless client sends: NUL characters, lone
surrogates, oversized bodies, malformed ids in paths, filters the operation
does not take, a Host this server does not serve. Each is a 4xx with the
catalogue's JSON body, never a 500 nor an HTML page, on SQLite and
PostgreSQL (which refuses NUL in text)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from django.test import Client

from api.ingest.tests.test_handler import wsgi
from api.query.tests.conftest import ApiAnswer, ApiClient
from conftest import CAPTURED_API_KEY

pytestmark = pytest.mark.django_db

MB = 1024 * 1024


def _raw(client: ApiClient, method: str, path: str, data: bytes) -> ApiAnswer:
    extra: dict = dict(client.headers)
    return ApiAnswer(
        client.client.generic(method, path, data=data, content_type="application/json", **extra)
    )


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/v1/conferences?issue_code=%00", "issue_code"),
        ("/v1/issues?code=a%00b", "code"),
        ("/v1/search?query=%00", "query"),
        ("/v1/connection?conferenceId=x&type=%00", "type"),
        ("/v1/apps?%00=1", "\\u0000"),
    ],
)
def test_a_nul_in_a_query_parameter_is_a_400_naming_it(acme, path, name):
    answer = ApiClient(acme.owner).get(path)

    assert answer.status == 400, answer
    assert answer.json["error_code"] == "invalid_parameters"
    assert f"'{name}'" in answer.json["message"]


def test_a_nul_in_the_type_filter_of_conference_events_is_a_400(acme):
    answer = ApiClient(acme.owner).get(f"/v1/conferences/{acme.conference.pk}/events?type=%00")

    assert answer.status == 400, answer
    assert "'type'" in answer.json["message"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/auth/tokens", b'{"name": "a\\u0000b"}'),
        ("POST", "/v1/organizations", b'{"name": "\\u0000"}'),
        ("PUT", "/v1/organizations/{org}", b'{"name": "x\\u0000"}'),
        ("POST", "/v1/apps", b'{"organization": "{org}", "name": "\\u0000"}'),
        ("PUT", "/v1/apps/{app}", b'{"name": "\\u0000"}'),
    ],
)
def test_a_nul_in_a_json_body_is_a_400_naming_the_field(acme, method, path, body):
    path = path.format(org=acme.organization.pk, app=acme.app.pk)
    body = body.replace(b"{org}", str(acme.organization.pk).encode())

    answer = _raw(ApiClient(acme.owner), method, path, body)

    assert answer.status == 400, answer
    assert answer.json == {
        "error_code": "invalid_parameters",
        "message": "'name' must not contain NUL characters.",
    }


@pytest.mark.parametrize(
    "body", [b'{"name": "\\ud800"}', b'{"name": "\\udfff x"}', b'{"name": "\xff"}']
)
def test_a_lone_surrogate_or_invalid_utf8_in_a_json_body_is_a_400(acme, body):
    answer = _raw(ApiClient(acme.owner), "POST", "/v1/organizations", body)

    assert answer.status == 400, answer
    assert answer.json["error_code"] == "invalid_json"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/auth/login"),
        ("POST", "/v1/auth/tokens"),
        ("POST", "/v1/organizations"),
        ("PUT", "/v1/organizations/{org}"),
        ("POST", "/v1/organizations/{org}/invitations"),
        ("POST", "/v1/apps"),
        ("PUT", "/v1/apps/{app}"),
        ("POST", "/v1/apps/{app}/reset-key"),
    ],
)
def test_a_body_over_a_megabyte_on_a_query_route_is_a_413(acme, method, path):
    path = path.format(org=acme.organization.pk, app=acme.app.pk)
    body = b'{"name": "' + b"x" * int(1.2 * MB) + b'"}'

    answer = _raw(ApiClient(acme.owner), method, path, body)

    assert answer.status == 413, answer
    assert answer.json["error_code"] == "body_too_large"


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize(
    "path",
    [
        "/v1/conferences/not-a-uuid",
        "/v1/apps/123",
        "/v1/organizations/%00",
        "/v1/conferences/{uuid}x/events",
        "/v1/no-such-route",
    ],
)
def test_a_malformed_id_in_a_path_is_a_json_404_not_an_html_page(acme, settings, path, debug):
    settings.DEBUG = debug
    path = path.format(uuid=acme.conference.pk)

    answer = ApiClient(acme.owner).get(path)

    assert answer.status == 404, answer
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.json["error_code"] == "not_found"


@pytest.mark.parametrize(
    ("path", "unknown"),
    [
        ("/v1/conferences?appid=x", ["appid"]),
        ("/v1/conferences?issueCode=a&limit=5", ["issueCode"]),
        ("/v1/issues?severity=high&kind=x", ["kind", "severity"]),
        ("/v1/organizations?foo=1", ["foo"]),
        ("/v1/stats?conference=x", ["conference"]),
    ],
)
def test_an_unknown_filter_parameter_is_refused_naming_it(acme, path, unknown):
    answer = ApiClient(acme.owner).get(path)

    assert answer.status == 400, answer
    assert answer.json["error_code"] == "invalid_parameters"
    for name in unknown:
        assert repr(name) in answer.json["message"]


def test_a_known_filter_parameter_is_still_taken(acme):
    answer = ApiClient(acme.owner).get("/v1/conferences", appId=str(acme.app.pk), limit=5)

    assert answer.status == 200, answer


# ------------------------------------------------------------------ hosts


def test_allowed_hosts_applies_to_the_sdks_lean_lane(settings, app):
    # given a server that serves one host name
    settings.ALLOWED_HOSTS = ["monitor.example.com"]
    body = b'{"apiKey": "' + CAPTURED_API_KEY.encode() + b'", "conferenceId": "c", "userId": "u"}'

    # when an SDK request names another
    status, headers, answer = wsgi("POST", "/v1/initialize", body, host="evil.example")

    # then it is refused with the catalogue's body
    assert status.startswith("400"), (status, answer)
    assert headers["content-type"].startswith("application/json")
    assert b"Host" in answer
    # while the served name and the probes are answered
    assert wsgi("POST", "/v1/initialize", body, host="monitor.example.com")[0].startswith("200")
    assert wsgi("GET", "/health", host="10.0.0.7")[0].startswith("200")


def test_get_url_with_a_bad_host_is_a_4xx_not_a_500(settings, app):
    settings.ALLOWED_HOSTS = ["monitor.example.com"]
    settings.CONFIG = replace(settings.CONFIG, web_domain="")
    body = b'{"apiKey": "' + CAPTURED_API_KEY.encode() + b'", "conferenceId": "c", "userId": "u"}'

    status, _, answer = wsgi("POST", "/v1/services/get-url", body, host="evil.example")

    assert status.startswith("400"), (status, answer)


def test_the_full_stack_refuses_a_bad_host_with_json_too(settings, acme):
    settings.ALLOWED_HOSTS = ["monitor.example.com"]

    answer = ApiAnswer(Client().get("/v1/conferences", HTTP_HOST="evil.example"))

    assert answer.status == 400
    assert answer.json["error_code"] == "invalid_parameters"
