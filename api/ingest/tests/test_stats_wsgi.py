"""The bare stats lane (api.ingest.stats_wsgi) answers ``POST /v1/stats``
exactly as the Django handler behind it would, and hands it whatever is not
the common case."""

from __future__ import annotations

import io
import logging
from dataclasses import replace

import orjson
import pytest
from django.db import OperationalError

from api.events.models import StatsSample
from api.ingest import views
from api.ingest.handler import SdkHandler
from api.ingest.stats_wsgi import StatsWsgi
from api.ingest.tests.fake_sdk import stats_report
from api.ingest.tests.lane import wsgi_call

pytestmark = pytest.mark.django_db

ORIGIN = "https://app.example"


def _environ(body: bytes, path: str = "/v1/stats", **extra: str) -> dict:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_ORIGIN": ORIGIN,
        "CONTENT_TYPE": "text/plain",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        **extra,
    }


def _unserved(environ, start_response):
    raise AssertionError("the bare lane handed a common request to Django")


class _Counted:
    """A fallback that counts the requests handed to it."""

    def __init__(self, app) -> None:
        self.app, self.calls = app, 0

    def __call__(self, environ, start_response):
        self.calls += 1
        return self.app(environ, start_response)


def _answer(app, environ: dict) -> tuple[str, dict, bytes]:
    status, header_list, body = wsgi_call(app, environ)
    headers = {name.lower(): value for name, value in header_list}
    assert headers.pop("x-request-id")
    return status, headers, body


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def _bodies(alice, link) -> dict[str, bytes]:
    signed = {"token": alice.token, "connectionId": link.connection_id}
    return {
        "stored": orjson.dumps({**signed, "data": stats_report(), "delta": 5}),
        "invalid json": b'{"token": ',
        "not an object": b"[1, 2]",
        "no token": orjson.dumps({"connectionId": link.connection_id, "data": {}}),
        "forged token": orjson.dumps({**signed, "token": "eyJforged", "data": {}}),
        "no connection": orjson.dumps({"token": alice.token, "data": {}}),
        "unknown connection": orjson.dumps(
            {**signed, "connectionId": "00000000-0000-4000-8000-000000000000", "data": {}}
        ),
        "data not an object": orjson.dumps({**signed, "data": [1]}),
        "bad delta": orjson.dumps({**signed, "data": {}, "delta": "soon"}),
        # More brackets than the fast parse takes: the general path, stored.
        "many brackets": orjson.dumps({**signed, "data": {"a": [[1]] * 40}}),
        "too deep": orjson.dumps({**signed, "data": _nested(70)}),
    }


@pytest.mark.parametrize("origin", [ORIGIN, None])
def test_every_answer_of_the_bare_lane_is_the_django_handlers_header_for_header(page, origin):
    # Given a page of the SDK with a connection, and the two ways to serve it
    alice = page("alice").join()
    page("bob").join()
    link = alice.add_connection("bob")
    django_lane = SdkHandler()
    bare = StatsWsgi(_unserved, {"/v1/stats": "v1/stats"})

    for name, body in _bodies(alice, link).items():
        extra = {} if origin else {"HTTP_ORIGIN": ""}
        # When each body is posted through both
        expected = _answer(django_lane, _environ(body, **extra))
        got = _answer(bare, _environ(body, **extra))

        # Then the answers are the same: status, body and every header
        assert got == expected, name
    # "stored" and "many brackets"; each the second time is a retry, stored once
    assert StatsSample.objects.count() == 2


def test_a_database_that_is_away_is_a_503_with_the_django_handlers_log_line(
    page, monkeypatch, caplog
):
    alice = page("alice").join()
    page("bob").join()
    link = alice.add_connection("bob")
    body = orjson.dumps({"token": alice.token, "connectionId": link.connection_id, "data": {}})

    def away(raw: bytes) -> None:
        raise OperationalError("the server closed the connection")

    monkeypatch.setattr(views, "stats_take", away)
    monkeypatch.setattr("api.ingest.stats_wsgi.stats_take", away)
    with caplog.at_level(logging.WARNING, logger="api.ingest"):
        expected = _answer(SdkHandler(), _environ(body))
        got = _answer(StatsWsgi(_unserved, {"/v1/stats": "v1/stats"}), _environ(body))

    assert got == expected
    assert got[0] == "503 Service Unavailable"
    lines = [r.getMessage() for r in caplog.records if r.name == "api.ingest"]
    assert lines == ["database unavailable on POST /v1/stats: OperationalError"] * 2


@pytest.mark.parametrize(
    "extra",
    [
        {"QUERY_STRING": "a=1"},
        {"HTTP_HOST": "evil.example"},
        {"CONTENT_LENGTH": ""},
        {"CONTENT_LENGTH": "2000000"},
        {"PATH_INFO": "/v1/stats/"},
    ],
    ids=["query string", "host not allowed", "no length", "too large", "other path"],
)
def test_what_is_not_the_common_case_goes_to_the_django_handler(extra, settings):
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    fallback = _Counted(SdkHandler())
    bare = StatsWsgi(fallback, {"/v1/stats": "v1/stats"})

    status, headers, body = _answer(bare, _environ(b'{"token": "x"}', **extra))

    assert fallback.calls == 1
    assert headers["content-type"].startswith("application/json")
    assert "error_code" in orjson.loads(body)
    assert not status.startswith("5")


def test_a_request_without_host_is_decided_by_django():
    fallback = _Counted(SdkHandler())
    environ = _environ(b'{"token": "x"}')
    del environ["HTTP_HOST"]

    _answer(StatsWsgi(fallback, {"/v1/stats": "v1/stats"}), environ)

    assert fallback.calls == 1


def test_the_production_application_serves_stats_on_the_bare_lane(page, monkeypatch):
    alice = page("alice").join()
    page("bob").join()
    link = alice.add_connection("bob")
    monkeypatch.setattr(SdkHandler, "__call__", _unserved)

    answer = alice.stats(link, stats_report())

    assert (answer.status, answer.raw) == (200, b'""')
    assert answer.headers["Access-Control-Allow-Origin"] == alice.origin


def test_with_log_requests_on_both_lanes_write_the_same_access_line(page, settings, caplog):
    settings.CONFIG = replace(settings.CONFIG, log_requests=True)
    alice = page("alice").join()
    page("bob").join()
    link = alice.add_connection("bob")
    body = orjson.dumps({"token": alice.token, "connectionId": link.connection_id, "data": {}})

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="api.access"):
        _answer(SdkHandler(), _environ(body))
        _answer(StatsWsgi(_unserved, {"/v1/stats": "v1/stats"}), _environ(body))

    django_line, bare_line = [r for r in caplog.records if r.name == "api.access"]
    assert django_line.getMessage().rsplit(" ", 2)[0] == "POST v1/stats 200"
    assert bare_line.getMessage().rsplit(" ", 2)[0] == "POST v1/stats 200"
    assert (bare_line.method, bare_line.status) == (django_line.method, django_line.status)
