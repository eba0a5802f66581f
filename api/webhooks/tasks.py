"""What the task worker does (``manage.py db_worker``; django-tasks with
its database backend): make each event's deliveries and send them, signed,
retrying with the schedule's backoff until it runs out, then disable the
endpoint with the reason."""

from __future__ import annotations

import functools
import http.client
import time
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson
from django.db import transaction
from django.utils.timezone import now
from django_tasks import task

from api.calls.models import Conference
from api.common.time import iso
from api.quality.models import Issue
from api.quality.selectors import conference_quality_summary, issue_as_dict
from api.quality.verdicts import conference_verdict
from api.webhooks import signing, targets
from api.webhooks.models import Attempt, Delivery, Endpoint
from api.webhooks.services import endpoint_disable, retry_schedule, timeout_seconds

USER_AGENT = "peermetrics-webhooks/1"


# ------------------------------------------------------------------ bodies


def _conference_data(conference_id: Any) -> dict[str, Any] | None:
    conference = Conference.objects.filter(pk=conference_id).first()
    if conference is None:
        return None
    return {
        "conference": {
            "id": str(conference.pk),
            "conference_id": conference.conference_id,
            "conference_name": conference.conference_name,
            "start_time": iso(conference.start_time),
            "end_time": iso(conference.end_time),
            "duration": conference.duration,
        },
        "summary": conference_quality_summary(conference_id=conference.pk),
        # {"level": "good" | "fair" | "poor", "text", "causes", "participants"}
        "verdict": conference_verdict(conference.pk),
    }


def _issue_data(data: dict[str, Any]) -> dict[str, Any]:
    issue = (
        Issue.objects.filter(code=data.get("code"), subject=data.get("subject"))
        .order_by("-created_at")
        .first()
    )
    return {"issue": issue_as_dict(issue)} if issue is not None else {"issue": data}


def _body(type: str, data: dict[str, Any], at: str) -> dict[str, Any] | None:
    if type == "conference.ended":
        built = _conference_data(data.get("conference"))
        if built is None:
            return None
        data = built
    elif type in {"issue.raised", "issue.resolved"}:
        data = _issue_data(data)
    return {"type": type, "timestamp": at, "data": data}


def _delivery_new(endpoint: Endpoint, type: str, body: dict[str, Any]) -> Delivery:
    return Delivery.objects.create(
        endpoint=endpoint,
        event_type=type,
        message_id=f"msg_{uuid.uuid4().hex}",
        body=orjson.dumps(body).decode(),
    )


# ------------------------------------------------------------------- tasks


@task()
def dispatch(app_id: str, type: str, data: dict[str, Any], at: str) -> int:
    """An event of an app: one delivery per enabled endpoint subscribed to
    it, each sent by its own task. Returns how many."""
    endpoints = [
        e for e in Endpoint.objects.filter(app_id=app_id, enabled=True) if type in (e.events or [])
    ]
    if not endpoints:
        return 0
    body = _body(type, data, at)
    if body is None:
        return 0
    with transaction.atomic():
        deliveries = [_delivery_new(endpoint, type, body) for endpoint in endpoints]
        for delivery in deliveries:
            transaction.on_commit(functools.partial(attempt.enqueue, str(delivery.pk)))
    return len(deliveries)


@task()
def deliver_new(endpoint_id: str, type: str, data: dict[str, Any], at: str) -> str | None:
    """One event for one endpoint (the test event)."""
    endpoint = Endpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        return None
    delivery = _delivery_new(endpoint, type, {"type": type, "timestamp": at, "data": data})
    _attempt(delivery, endpoint, force=True)
    return str(delivery.pk)


@task()
def attempt(delivery_id: str) -> str:
    """One attempt of a delivery; on failure the next one is queued after
    the schedule's delay, or the delivery fails and the endpoint is
    disabled. Returns the delivery's status."""
    delivery = Delivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != Delivery.Status.PENDING:
        return delivery.status if delivery else "gone"
    return _attempt(delivery, delivery.endpoint, force=delivery.event_type == "webhook.test")


# ------------------------------------------------------------------- HTTP


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    targets.resolved_check(host, port)
    kind = http.client.HTTPSConnection if https else http.client.HTTPConnection
    connection = kind(host, port, timeout=timeout_seconds())
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read(1000).decode("utf-8", "replace")
        # Redirects are not followed: a 3xx is a failed attempt.
        return response.status, text
    finally:
        connection.close()


def _retry_queue(delivery_id: str, when: Any) -> None:
    def queue() -> None:
        attempt.using(run_after=when).enqueue(delivery_id)

    transaction.on_commit(queue)


def _attempt(delivery: Delivery, endpoint: Endpoint, *, force: bool = False) -> str:
    number = delivery.attempts + 1
    started_at = now()
    if not endpoint.enabled and not force:
        status_code, error, text, latency = None, "The endpoint is disabled.", "", None
    else:
        body = delivery.body.encode()
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            **signing.headers(
                secret=endpoint.secret,
                message_id=delivery.message_id,
                timestamp=int(time.time()),
                body=body,
            ),
        }
        clock = time.perf_counter()
        status_code, error, text = None, "", ""
        try:
            status_code, text = _post(endpoint.url, body, headers)
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except PermissionError as exc:
            error = str(exc)
        except TimeoutError:
            error = f"No answer within {timeout_seconds():g} s."
        except (OSError, http.client.HTTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"
        latency = round((time.perf_counter() - clock) * 1000.0, 1)
    Attempt.objects.create(
        delivery=delivery,
        number=number,
        at=started_at,
        response_status=status_code,
        error=error[:500],
        latency_ms=latency,
        response_body=text[:1000],
    )
    delivery.attempts = number
    delivery.response_status = status_code
    delivery.error = error[:500]
    delivery.latency_ms = latency
    if not error:
        delivery.status = Delivery.Status.SUCCEEDED
        delivery.delivered_at = now()
        delivery.next_attempt_at = None
    else:
        schedule = retry_schedule()
        if number <= len(schedule) and (endpoint.enabled or force) and not force:
            delivery.next_attempt_at = now() + timedelta(seconds=schedule[number - 1])
        else:
            delivery.status = Delivery.Status.FAILED
            delivery.next_attempt_at = None
    delivery.save()
    if delivery.status == Delivery.Status.PENDING:
        _retry_queue(str(delivery.pk), delivery.next_attempt_at)
    elif delivery.status == Delivery.Status.FAILED and not force and endpoint.enabled:
        span = (now() - delivery.created_at).total_seconds()
        endpoint_disable(
            endpoint=endpoint,
            reason=(
                f"Disabled after {number} failed attempts over {span:.0f} s to deliver "
                f"{delivery.message_id} ({delivery.event_type}); last: {error}"
            ),
        )
    return delivery.status
