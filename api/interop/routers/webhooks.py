"""Webhook endpoints of an app and their delivery log (api.webhooks).
Members read them; admins and owners create, change, delete them, rotate
their secret and send a test event. The secret is answered once: at
creation and at each rotation."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from ninja import Field, Query, Router, Schema, Status

from api.common.errors import ApiError
from api.query.auth import AuthedRequest
from api.query.responses import ERRORS
from api.query.schemas import Out, data_of, list_of, ref
from api.tenancy.models import Membership
from api.tenancy.selectors import app_get_for
from api.webhooks import services
from api.webhooks.models import Delivery, Endpoint

router = Router(tags=["webhooks"])

EventType = Literal["issue.raised", "issue.resolved", "conference.ended"]


class EndpointOut(Out):
    id: uuid.UUID
    app: uuid.UUID = ref("app_id")
    url: str
    description: str
    events: list[str]
    enabled: bool
    disabled_reason: str
    disabled_at: datetime | None
    created_at: datetime


class EndpointSecretOut(EndpointOut):
    secret: str = ref("secret", "The signing secret (whsec_…). Shown once, never again.")


class EndpointIn(Schema):
    url: str
    events: list[EventType] | None = None
    description: str = ""


class EndpointPatchIn(Schema):
    url: str | None = None
    events: list[EventType] | None = None
    description: str | None = None
    enabled: bool | None = None


class AttemptOut(Out):
    number: int
    at: datetime
    response_status: int | None
    error: str
    latency_ms: float | None
    response_body: str


class DeliveryOut(Out):
    id: uuid.UUID
    endpoint: uuid.UUID = ref("endpoint_id")
    event_type: str
    message_id: str
    body: str
    status: Literal["pending", "succeeded", "failed"]
    attempts: int
    response_status: int | None
    error: str
    latency_ms: float | None
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None
    attempt_log: list[AttemptOut] = ref("attempt_list")


class QueuedOut(Out):
    queued: bool


def _endpoint(user, endpoint_id: uuid.UUID, role: str) -> Endpoint:
    """The endpoint, if the user may act on its app with ``role``
    (``not_found`` otherwise, as for every invisible object)."""
    endpoint = Endpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise ApiError("not_found")
    app_get_for(user=user, app_id=endpoint.app_id, role=role)
    return endpoint


ADMIN = Membership.Role.ADMIN
MEMBER = Membership.Role.MEMBER


@router.get(
    "/apps/{app_id}/webhooks", response={200: list_of(EndpointOut, "WebhookList"), **ERRORS}
)
def webhook_list(request: AuthedRequest, app_id: uuid.UUID) -> Any:
    """The app's webhook endpoints (without their secrets)."""
    app = app_get_for(user=request.auth, app_id=app_id, role=MEMBER)
    return {"data": list(Endpoint.objects.filter(app=app).order_by("created_at"))}


@router.post(
    "/apps/{app_id}/webhooks",
    response={201: data_of(EndpointSecretOut, "WebhookSecretData"), **ERRORS},
)
def webhook_create(request: AuthedRequest, app_id: uuid.UUID, body: EndpointIn) -> Status:
    """A new endpoint for the app's events (``issue.raised``,
    ``issue.resolved``, ``conference.ended``; all by default). ``url``:
    http or https, not a private or loopback address (unless the server
    allows them). The answer carries the signing ``secret``, once."""
    app = app_get_for(user=request.auth, app_id=app_id, role=ADMIN)
    endpoint = services.endpoint_create(
        app=app,
        url=body.url,
        events=list(body.events) if body.events is not None else None,
        description=body.description,
    )
    return Status(201, {"data": endpoint})


@router.get(
    "/webhooks/{endpoint_id}", response={200: data_of(EndpointOut, "WebhookData"), **ERRORS}
)
def webhook_detail(request: AuthedRequest, endpoint_id: uuid.UUID) -> Any:
    return {"data": _endpoint(request.auth, endpoint_id, MEMBER)}


@router.patch(
    "/webhooks/{endpoint_id}", response={200: data_of(EndpointOut, "WebhookData"), **ERRORS}
)
def webhook_update(request: AuthedRequest, endpoint_id: uuid.UUID, body: EndpointPatchIn) -> Any:
    """Change the URL, events or description; ``enabled: true`` turns a
    disabled endpoint back on (its reason is cleared)."""
    endpoint = _endpoint(request.auth, endpoint_id, ADMIN)
    services.endpoint_update(
        endpoint=endpoint,
        url=body.url,
        events=list(body.events) if body.events is not None else None,
        description=body.description,
        enabled=body.enabled,
    )
    return {"data": endpoint}


@router.delete("/webhooks/{endpoint_id}", response={204: None, **ERRORS})
def webhook_delete(request: AuthedRequest, endpoint_id: uuid.UUID) -> Status:
    services.endpoint_delete(endpoint=_endpoint(request.auth, endpoint_id, ADMIN))
    return Status(204, None)


@router.post(
    "/webhooks/{endpoint_id}/rotate-secret",
    response={200: data_of(EndpointSecretOut, "WebhookSecretData"), **ERRORS},
)
def webhook_rotate_secret(request: AuthedRequest, endpoint_id: uuid.UUID) -> Any:
    """A new signing secret (answered once); the old one signs nothing from now on."""
    endpoint = services.secret_rotate(endpoint=_endpoint(request.auth, endpoint_id, ADMIN))
    return {"data": endpoint}


@router.post(
    "/webhooks/{endpoint_id}/test",
    response={202: data_of(QueuedOut, "QueuedData"), **ERRORS},
)
def webhook_test(request: AuthedRequest, endpoint_id: uuid.UUID) -> Status:
    """Queue a ``webhook.test`` event for this endpoint (its delivery shows
    in the log)."""
    services.test_event_send(endpoint=_endpoint(request.auth, endpoint_id, ADMIN))
    return Status(202, {"data": {"queued": True}})


class DeliveryParams(Schema):
    limit: int = Field(50, ge=1, le=200, description="Page size (1-200).")
    offset: int = Field(0, ge=0, le=1_000_000, description="Rows to skip.")
    status: Literal["pending", "succeeded", "failed"] | None = None


@router.get(
    "/webhooks/{endpoint_id}/deliveries",
    response={200: list_of(DeliveryOut, "DeliveryList"), **ERRORS},
)
def webhook_deliveries(
    request: AuthedRequest, endpoint_id: uuid.UUID, params: Query[DeliveryParams]
) -> Any:
    """The endpoint's delivery log, newest first (``limit`` default 50):
    status, attempts (each with its HTTP status, error and latency), the
    body sent."""
    endpoint = _endpoint(request.auth, endpoint_id, MEMBER)
    queryset = Delivery.objects.filter(endpoint=endpoint).order_by("-created_at", "-pk")
    if params.status:
        queryset = queryset.filter(status=params.status)
    offset, limit = params.offset, params.limit
    deliveries = list(queryset[offset : offset + limit].prefetch_related("attempt_log"))
    for delivery in deliveries:
        delivery.attempt_list = list(delivery.attempt_log.all())  # type: ignore[attr-defined]
    return {"data": deliveries}
