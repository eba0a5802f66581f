"""Webhooks against a local receiver: events of a live SDK call delivered
signed (Standard Webhooks, verified with the reference library), retried
after a 500 and a timeout, given up on and the endpoint disabled after the
schedule, the delivery log, the test event, secrets, targets, and the
stats path's SQL count unchanged with webhooks on."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from django.db import connection
from django_tasks_db.models import DBTaskResult
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from api.ingest.tests.fake_sdk import captured_body
from api.query.tests.conftest import ApiClient
from api.query.tests.factories import member_make
from api.webhooks import services
from api.webhooks.models import Attempt, Delivery, Endpoint
from api.webhooks.tests.conftest import run_worker
from api.webhooks.tests.receiver import HANG

# Tests whose tasks are run by the worker see committed rows, as it does.
live = pytest.mark.django_db(transaction=True)


def _verified(endpoint: Endpoint, received) -> dict:
    headers = {
        k: received.headers[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")
    }
    return Webhook(endpoint.secret).verify(received.body, headers)


@pytest.fixture
def call(page):
    alice = page("alice").join()
    bob = page("bob").join()
    return alice, bob, alice.add_connection("bob")


@live
def test_an_issue_of_a_live_call_is_delivered_signed(call, endpoint, receiver):
    alice, _, link = call

    # The connection fails (an issue is raised), then connects again (resolved).
    assert alice.connection_event(link, "onconnectionstatechange", "failed").status == 200
    assert alice.connection_event(link, "onconnectionstatechange", "connected").status == 200
    assert not receiver.received  # nothing is sent by the web process
    run_worker()

    events = [_verified(endpoint, r) for r in receiver.received]
    assert [e["type"] for e in events] == ["issue.raised", "issue.resolved"]
    raised = events[0]["data"]["issue"]
    assert raised["code"] == "connection_failed" and raised["type"] == "error"
    assert raised["connection"] == link.connection_id
    assert events[1]["data"]["issue"]["resolved_at"] is not None
    assert receiver.received[0].path == "/hooks?src=pm"
    assert receiver.received[0].headers["content-type"] == "application/json"
    # The signature covers id, timestamp and body: any change breaks it.
    tampered = receiver.received[0]
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.secret).verify(tampered.body + b" ", dict(tampered.headers))


@live
def test_a_delivery_is_retried_after_a_500_and_a_timeout(call, endpoint, receiver, settings):
    settings.WEBHOOK_RETRY_SCHEDULE = [0, 0, 0]
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    receiver.answers.extend([500, HANG, 200])
    alice, _, link = call

    alice.connection_event(link, "onconnectionstatechange", "failed")
    run_worker()

    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("succeeded", 3, 200)
    log = list(delivery.attempt_log.values_list("number", "response_status", "error"))
    assert log == [(1, 500, "HTTP 500"), (2, None, "No answer within 0.5 s."), (3, 200, "")]
    # Every attempt is the same message: one id, one body, each signed.
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    assert {r.body for r in receiver.received} == {delivery.body.encode()}
    assert all(_verified(endpoint, r)["type"] == "issue.raised" for r in receiver.received)
    assert Endpoint.objects.get().enabled


@live
def test_after_the_schedule_the_delivery_fails_and_the_endpoint_is_disabled(
    call, endpoint, receiver, settings
):
    settings.WEBHOOK_RETRY_SCHEDULE = [0, 0]
    receiver.default = 500
    alice, _, link = call

    alice.connection_event(link, "onconnectionstatechange", "failed")
    run_worker()

    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert len(receiver.received) == 3
    endpoint.refresh_from_db()
    assert not endpoint.enabled and endpoint.disabled_at is not None
    assert "3 failed attempts" in endpoint.disabled_reason
    assert "HTTP 500" in endpoint.disabled_reason
    # A disabled endpoint gets nothing more (and costs the stats path nothing).
    alice.connection_event(link, "onconnectionstatechange", "connected")
    run_worker()
    assert len(receiver.received) == 3


def test_the_default_schedule_backs_off_exponentially_for_about_a_day():
    schedule = services.RETRY_SCHEDULE
    assert list(schedule) == sorted(schedule)
    assert schedule[0] <= 10 and schedule[3] >= 10 * schedule[0]
    assert 20 * 3600 <= sum(schedule) <= 28 * 3600


@live
def test_a_failed_attempt_queues_the_next_after_the_schedules_delay(call, endpoint, receiver):
    receiver.default = 503
    alice, _, link = call

    alice.connection_event(link, "onconnectionstatechange", "failed")
    run_worker()  # the first attempt fails; the second is not due yet

    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    waiting = DBTaskResult.objects.filter(status="READY").get()
    assert waiting.run_after == delivery.next_attempt_at
    delay = (delivery.next_attempt_at - delivery.attempt_log.get().at).total_seconds()
    assert services.RETRY_SCHEDULE[0] - 1 <= delay <= services.RETRY_SCHEDULE[0] + 1


@live
def test_a_conference_that_ends_sends_its_summary_and_verdict(call, endpoint, receiver):
    alice, _, link = call
    alice.connection_event(link, "onconnectionstatechange", "failed")

    alice.connection_event(link, "onconnectionstatechange", "closed")
    run_worker()

    events = {e["type"]: e for e in (_verified(endpoint, r) for r in receiver.received)}
    ended = events["conference.ended"]["data"]
    assert ended["conference"]["conference_id"] == "room-1"
    assert ended["verdict"]["level"] == "poor"  # an error-level issue
    assert ended["verdict"]["text"] and ended["verdict"]["causes"]
    assert ended["summary"]["issues"]["by_code"] == {"connection_failed": 1}


# ------------------------------------------------------------------ the API


@pytest.fixture
def owner(app):
    return ApiClient(member_make(app.organization, "owner"))


@live
def test_the_secret_is_shown_once_and_rotation_changes_what_signs(
    app, owner, receiver, local_targets
):
    created = owner.post(f"/v1/apps/{app.pk}/webhooks", {"url": receiver.url})
    assert created.status == 201, created
    hook = created.data
    assert hook["secret"].startswith("whsec_") and hook["events"] == [
        "issue.raised",
        "issue.resolved",
        "conference.ended",
    ]
    assert "secret" not in owner.get(f"/v1/webhooks/{hook['id']}").data
    assert "secret" not in owner.get(f"/v1/apps/{app.pk}/webhooks").data[0]

    rotated = owner.post(f"/v1/webhooks/{hook['id']}/rotate-secret").data["secret"]
    assert rotated != hook["secret"]
    assert owner.post(f"/v1/webhooks/{hook['id']}/test").status == 202
    run_worker()

    received = receiver.received[0]
    assert Webhook(rotated).verify(received.body, dict(received.headers))["type"] == "webhook.test"
    with pytest.raises(WebhookVerificationError):
        Webhook(hook["secret"]).verify(received.body, dict(received.headers))


@live
def test_send_test_event_and_the_delivery_log(app, owner, endpoint, receiver):
    receiver.answers.append(500)

    assert owner.post(f"/v1/webhooks/{endpoint.pk}/test").status == 202
    run_worker()
    owner.post(f"/v1/webhooks/{endpoint.pk}/test")
    run_worker()

    log = owner.get(f"/v1/webhooks/{endpoint.pk}/deliveries")
    assert log.status == 200
    newest, oldest = log.data
    assert (oldest["status"], oldest["response_status"], oldest["attempts"]) == ("failed", 500, 1)
    assert (newest["status"], newest["response_status"]) == ("succeeded", 200)
    assert newest["latency_ms"] is not None and newest["latency_ms"] >= 0
    assert newest["event_type"] == "webhook.test"
    assert orjson.loads(newest["body"])["data"]["endpoint"] == str(endpoint.pk)
    assert newest["body"].encode() == receiver.received[1].body
    assert newest["attempt_log"][0]["response_status"] == 200
    assert newest["message_id"] == receiver.received[1].headers["webhook-id"]
    # A failed test event does not disable the endpoint.
    assert Endpoint.objects.get().enabled
    filtered = owner.get(f"/v1/webhooks/{endpoint.pk}/deliveries", status="failed").data
    assert [d["id"] for d in filtered] == [oldest["id"]]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "javascript:alert(1)",
        "http:///nohost",
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
    ],
)
def test_targets_must_be_public_http_urls(app, owner, url):
    answer = owner.post(f"/v1/apps/{app.pk}/webhooks", {"url": url})

    assert (answer.status, answer.json["error_code"]) == (400, "invalid_webhook_url")
    assert not Endpoint.objects.exists()


@pytest.mark.django_db
def test_private_targets_are_allowed_when_the_setting_says_so(app, owner, local_targets):
    answer = owner.post(f"/v1/apps/{app.pk}/webhooks", {"url": "http://127.0.0.1:18650/x"})

    assert answer.status == 201
    assert owner.post(f"/v1/apps/{app.pk}/webhooks", {"url": "ftp://127.0.0.1/"}).status == 400


@live
def test_a_target_that_resolves_to_a_private_address_is_not_called(
    call, endpoint, receiver, settings
):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False  # saved while allowed, refused now
    settings.WEBHOOK_RETRY_SCHEDULE = []
    alice, _, link = call

    alice.connection_event(link, "onconnectionstatechange", "failed")
    run_worker()

    assert not receiver.received
    delivery = Delivery.objects.get()
    assert delivery.status == "failed" and "non-public address" in delivery.error


@pytest.mark.django_db
def test_members_read_endpoints_admins_change_them(app, endpoint):
    member = ApiClient(member_make(app.organization, "member"))
    stranger = ApiClient(
        member_make(app.organization.__class__.objects.create(name="Globex"), "owner")
    )

    assert member.get(f"/v1/webhooks/{endpoint.pk}").status == 200
    assert member.post(f"/v1/webhooks/{endpoint.pk}/test").status == 403
    assert member.post(f"/v1/apps/{app.pk}/webhooks", {"url": "https://example.com/"}).status == 403
    assert stranger.get(f"/v1/webhooks/{endpoint.pk}").json["error_code"] == "not_found"
    assert stranger.get(f"/v1/apps/{app.pk}/webhooks").status == 404


@pytest.mark.django_db
def test_an_endpoint_is_changed_re_enabled_and_deleted(app, owner, endpoint):
    services.endpoint_disable(endpoint=endpoint, reason="gave up")

    changed = owner.call(
        "PATCH", f"/v1/webhooks/{endpoint.pk}", {"enabled": True, "events": ["conference.ended"]}
    )

    assert changed.status == 200
    assert (changed.data["enabled"], changed.data["disabled_reason"]) == (True, "")
    assert changed.data["events"] == ["conference.ended"]
    assert owner.delete(f"/v1/webhooks/{endpoint.pk}").status == 204
    assert not Endpoint.objects.exists()


# ------------------------------------------------------ the stats path


def _extrapolated(first: Any, second: Any, k: int) -> Any:
    """The report ``k`` intervals after ``first``, growing as it grew from
    ``first`` to ``second`` (the browser's next two samples): counters
    keep rising at the call's own rates, so no issue opens or closes."""
    if isinstance(first, dict) and isinstance(second, dict):
        return {key: _extrapolated(first.get(key), value, k) for key, value in second.items()}
    if isinstance(first, list) and isinstance(second, list) and len(first) == len(second):
        return [_extrapolated(a, b, k) for a, b in zip(first, second, strict=True)]
    numbers = (int, float)
    if isinstance(first, numbers) and isinstance(second, numbers) and not isinstance(first, bool):
        value = first + k * (second - first)
        return int(value) if isinstance(first, int) and isinstance(second, int) else value
    return second


@pytest.mark.django_db
def test_a_stats_burst_with_webhooks_on_keeps_the_stats_sql_count(
    call, clock, endpoint, django_assert_num_queries
):
    # The app has an endpoint, and the process knows it (an issue went out).
    alice, _, link = call
    alice.connection_event(link, "onconnectionstatechange", "failed")
    alice.connection_event(link, "onconnectionstatechange", "connected")
    first = captured_body("/v1/stats", nth=0)["data"]
    second = captured_body("/v1/stats", nth=2)["data"]
    assert alice.stats(link, first).status == 200

    # A burst of steady-state samples costs what test_stats pins: 2 on
    # PostgreSQL, 3 on SQLite, each.
    for k in range(1, 13):
        clock.advance(seconds=10)
        with django_assert_num_queries(2 if connection.vendor == "postgresql" else 3):
            assert alice.stats(link, _extrapolated(first, second, k)).status == 200
    assert services._known[endpoint.app_id][0] is True


# ------------------------------------------------------------------ admin


@live
def test_the_delivery_log_is_in_the_admin(admin_client, app, owner, endpoint, receiver):
    from api.common.tests.admin_pages import admin_page_failures, change_url

    receiver.answers.append(500)
    owner.post(f"/v1/webhooks/{endpoint.pk}/test")
    run_worker()

    assert admin_page_failures(admin_client, Delivery) == []
    assert admin_page_failures(admin_client, Endpoint) == []
    assert admin_page_failures(admin_client, Attempt) == []
    delivery = Delivery.objects.get()
    page = admin_client.get(change_url(delivery)).content.decode()
    assert delivery.message_id in page and "HTTP 500" in page and "webhook.test" in page
    assert endpoint.secret not in admin_client.get(change_url(endpoint)).content.decode()


@live
def test_the_admin_sends_a_test_event(admin_client, endpoint, receiver):
    from api.common.tests.admin_pages import changelist_url

    answer = admin_client.post(
        changelist_url(Endpoint), {"action": "send_test_event", "_selected_action": [endpoint.pk]}
    )
    assert answer.status_code == 302
    run_worker()

    assert _verified(endpoint, receiver.received[0])["type"] == "webhook.test"


@live
def test_old_finished_deliveries_are_pruned(app, owner, endpoint, receiver):
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils.timezone import now

    owner.post(f"/v1/webhooks/{endpoint.pk}/test")
    owner.post(f"/v1/webhooks/{endpoint.pk}/test")
    run_worker()
    old = Delivery.objects.order_by("created_at").first()
    Delivery.objects.filter(pk=old.pk).update(created_at=now() - timedelta(days=31))

    call_command("prune_webhooks", stdout=__import__("io").StringIO())

    assert list(Delivery.objects.values_list("pk", flat=True)) != [old.pk]
    assert Delivery.objects.count() == 1 and not Attempt.objects.filter(delivery_id=old.pk).exists()
