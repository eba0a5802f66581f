"""Rate limits that do not backfire on the SDK: ``/v1/initialize`` per
address and per app, the query API per address (429 JSON with
``Retry-After``); the client's address only from trusted proxy hops; the
stats budget (every sample kept, new sessions told a longer interval) and
the per-app session quota (``quota_exceeded``)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from django.test import Client

from api.events.models import StatsSample
from api.ingest.tests.test_replay_captured_calls import replay
from api.query.tests.conftest import ApiAnswer, ApiClient
from api.tenancy.models import Membership, User
from conftest import CAPTURED_API_KEY, SdkClient

pytestmark = pytest.mark.django_db


def _configure(settings, **values) -> None:
    settings.CONFIG = replace(settings.CONFIG, **values)


def _initialize(address: str, *, user: str = "alice", forwarded: str | None = None):
    client = SdkClient(Client(REMOTE_ADDR=address))
    headers: dict = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    body = {"apiKey": CAPTURED_API_KEY, "conferenceId": "room", "userId": user}
    return client.client.post(
        "/v1/initialize", data=json.dumps(body), content_type="text/plain", **headers
    )


def test_initialize_is_limited_per_address_with_a_json_429_and_retry_after(settings, app):
    _configure(settings, rate_limit_initialize="3/m")

    statuses = [_initialize("198.51.100.1").status_code for _ in range(3)]
    limited = _initialize("198.51.100.1")

    assert statuses == [200, 200, 200]
    assert limited.status_code == 429
    assert limited.json() == {"error_code": "rate_limited", "message": "Too many requests."}
    assert 1 <= int(limited["Retry-After"]) <= 60
    # another address is not limited
    assert _initialize("198.51.100.2").status_code == 200


def test_initialize_is_limited_per_app_whatever_the_addresses(settings, app):
    _configure(settings, rate_limit_initialize_app="4/m")

    statuses = [_initialize(f"198.51.100.{n}").status_code for n in range(1, 6)]

    assert statuses == [200, 200, 200, 200, 429]


def test_the_address_comes_from_trusted_proxy_hops_only(settings, app):
    # behind one trusted proxy: each client (the entry it appended) is counted
    _configure(settings, rate_limit_initialize="2/m", trusted_proxy_hops=1)
    proxy = "10.0.0.5"
    alice = [_initialize(proxy, forwarded="203.0.113.1").status_code for _ in range(3)]
    bob = _initialize(proxy, forwarded="203.0.113.2").status_code
    # a client's own entries left of the proxy's prove nothing
    spoofed = _initialize(proxy, forwarded="1.2.3.4, 203.0.113.1").status_code
    assert (alice, bob, spoofed) == ([200, 200, 429], 200, 429)

    # facing the clients directly: the header is ignored, the socket counts
    _configure(settings, rate_limit_initialize="2/m", trusted_proxy_hops=0)
    rotating = [
        _initialize("198.51.100.50", forwarded=f"203.0.113.{n}").status_code for n in range(10, 13)
    ]
    assert rotating == [200, 200, 429]


def test_the_query_api_is_limited_per_address(settings, app):
    _configure(settings, rate_limit_query="5/m")
    user = User.objects.create_user(username="reader", password="pw")
    Membership.objects.create(user=user, organization=app.organization, role="member")
    client = ApiClient(user, client=Client(REMOTE_ADDR="192.0.2.20"))

    statuses = [client.get("/v1/apps").status for _ in range(5)]
    limited = client.get("/v1/apps")
    other = ApiClient(user, client=Client(REMOTE_ADDR="192.0.2.21")).get("/v1/apps")

    assert statuses == [200] * 5
    assert limited.status == 429 and limited.json["error_code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
    assert other.status == 200


def test_a_replayed_call_under_limits_stores_every_accepted_sample_and_slows_new_sessions(
    sdk, settings, app, monkeypatch, captured_call
):
    # given limits the captured call stays under, and a stats budget it exceeds
    _configure(
        settings,
        rate_limit_initialize="10/m",
        rate_limit_initialize_app="10/m",
        stats_budget_per_minute=3,
    )
    from api.ingest import budget

    monkeypatch.setattr(budget, "FLUSH_SECONDS", 0.0)
    call = captured_call("call-2-participants.json")

    # when the real SDK's call is replayed (every answer checked by replay)
    exchanges = replay(sdk, monkeypatch, call)

    # then every stats request was accepted and every accepted sample stored
    stats = [response for request, response in exchanges if request["path"] == "/v1/stats"]
    assert [r.status for r in stats] == [200] * len(stats) == [200] * 8
    assert StatsSample.objects.count() == len(stats)
    # and a new session of the app, now over its budget, is told to sample less often
    answer = ApiAnswer(
        Client().post(
            "/v1/initialize",
            data=b'{"apiKey": "%s", "conferenceId": "c2", "userId": "late"}'
            % CAPTURED_API_KEY.encode(),
            content_type="text/plain",
        )
    )
    assert answer.json["getStatsInterval"] == app.interval * 3  # 8 samples / budget 3


def test_the_session_quota_answers_quota_exceeded(settings, app):
    _configure(settings, app_sessions_per_day=2)

    statuses = [_initialize(f"198.51.100.{n}", user=f"u{n}") for n in range(3)]

    assert [s.status_code for s in statuses] == [200, 200, 429]
    assert statuses[2].json()["error_code"] == "quota_exceeded"
