"""The production WSGI application (``api.wsgi.application``): SDK writes
take the lean lane (CORS only), everything else the full middleware."""

from __future__ import annotations

import io

import orjson
import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from api.events.models import StatsSample
from api.ingest.tests.fake_sdk import stats_report

pytestmark = pytest.mark.django_db


def wsgi(method: str, path: str, body: bytes = b"", **headers: str) -> tuple[str, dict, bytes]:
    """One request through ``api.wsgi.application``, as granian or gunicorn
    would call it."""
    from api.wsgi import application

    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "HTTP_HOST": "127.0.0.1",
        "CONTENT_TYPE": "text/plain",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        **{f"HTTP_{name.upper()}": value for name, value in headers.items()},
    }
    started: list = []
    # As Django's test client does: a request must not close the database
    # connection that holds the test's transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        chunks = application(
            environ, lambda status, headers, *exc: started.append((status, headers))
        )
        answer = b"".join(chunks)
        chunks.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    status, header_list = started[0]
    return status, {name.lower(): value for name, value in header_list}, answer


def test_an_sdk_stats_post_is_stored_through_the_lean_lane(page):
    # Given a page of the SDK with a connection
    alice = page("alice").join()
    page("bob").join()
    link = alice.add_connection("bob")
    body = orjson.dumps(
        {"token": alice.token, "connectionId": link.connection_id, "data": stats_report()}
    )

    # When its stats request reaches the production application
    status, headers, answer = wsgi("POST", "/v1/stats", body, origin="https://app.example")

    # Then it is stored and answered without the full stack's middleware
    assert (status, answer) == ("200 OK", b'""')
    assert StatsSample.objects.count() == 1
    assert headers["content-length"] == "2"
    assert headers["access-control-allow-origin"] == "https://app.example"  # any page
    assert "x-frame-options" not in headers  # XFrameOptionsMiddleware did not run
    assert "set-cookie" not in headers


def test_an_sdk_error_through_the_lean_lane_is_the_catalogue_body(page):
    status, _, answer = wsgi("POST", "/v1/stats", b'{"connectionId": "x"}')

    assert status.startswith("401")
    assert orjson.loads(answer)["error_code"] == "missing_token"


def test_other_requests_take_the_full_stack():
    status, headers, _ = wsgi("GET", "/v1/openapi.json")

    assert status == "200 OK"
    assert headers["x-frame-options"] == "DENY"
