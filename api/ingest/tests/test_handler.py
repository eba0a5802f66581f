"""The production WSGI application (``api.wsgi.application``): SDK writes
take the lean lane (CORS only), everything else the full middleware."""

from __future__ import annotations

import orjson
import pytest

from api.events.models import StatsSample
from api.ingest.tests.fake_sdk import stats_report
from api.ingest.tests.lane import wsgi

pytestmark = pytest.mark.django_db


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
