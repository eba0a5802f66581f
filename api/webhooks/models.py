"""Webhook endpoints of an app and the deliveries made to them."""

from __future__ import annotations

import uuid

from django.db import models

from api.tenancy.models import App

EVENT_TYPES = ("issue.raised", "issue.resolved", "conference.ended")
TEST_EVENT = "webhook.test"


def default_events() -> list[str]:
    return list(EVENT_TYPES)


class Endpoint(models.Model):
    """A URL that receives an app's events, signed with its own secret
    (Standard Webhooks). Disabled, with the reason, when a delivery ran out
    of retries."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.CharField(max_length=2000)
    description = models.CharField(max_length=200, blank=True, default="")
    events = models.JSONField(default=default_events, help_text="Event types sent to it.")
    # "whsec_" + base64 of 24 random bytes. Shown once, at creation and at
    # each rotation; kept because every delivery is signed with it.
    secret = models.CharField(max_length=80)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=500, blank=True, default="")
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["app", "enabled"], name="webhook_app_enabled")]

    def __str__(self) -> str:
        return self.url


class Delivery(models.Model):
    """One event for one endpoint: the body sent (the same on every
    attempt, with the same ``webhook-id``), how it went."""

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        SUCCEEDED = "succeeded", "succeeded"
        FAILED = "failed", "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_type = models.CharField(max_length=40)
    message_id = models.CharField(max_length=40, unique=True, help_text="The webhook-id header.")
    body = models.TextField(help_text="The JSON body sent.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True, default="")
    latency_ms = models.FloatField(null=True, blank=True, help_text="Of the last attempt.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["endpoint", "-created_at"], name="delivery_endpoint_created")
        ]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.event_type} → {self.endpoint_id} ({self.status})"


class Attempt(models.Model):
    """One HTTP request of a delivery."""

    id = models.BigAutoField(primary_key=True)
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    at = models.DateTimeField()
    response_status = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True, default="")
    latency_ms = models.FloatField(null=True, blank=True)
    response_body = models.TextField(blank=True, default="", help_text="Its first 1000 characters.")

    class Meta:
        ordering = ["delivery", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"
