from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from api.calls.models import Conference, Connection, Participant, Session, Track
from api.tenancy.models import App


class Issue(models.Model):
    """A call-quality problem over an interval: raised at ``created_at``,
    resolved at ``resolved_at`` (empty while it lasts)."""

    class Type(models.TextChoices):
        WARNING = "warning", "warning"
        ERROR = "error", "error"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="+")
    conference = models.ForeignKey(
        Conference, on_delete=models.CASCADE, null=True, blank=True, related_name="issues"
    )
    session = models.ForeignKey(
        Session, on_delete=models.CASCADE, null=True, blank=True, related_name="issues"
    )
    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, null=True, blank=True, related_name="issues"
    )
    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, null=True, blank=True, related_name="issues"
    )
    track = models.ForeignKey(
        Track, on_delete=models.CASCADE, null=True, blank=True, related_name="issues"
    )
    type = models.CharField(max_length=8, choices=Type.choices)
    code = models.CharField(max_length=40)
    # What the issue is about, e.g. ``connection:<uuid>``: at most one open
    # issue per (code, subject), so retries and repeats never duplicate.
    subject = models.CharField(max_length=80)
    data = models.JSONField(null=True, blank=True, help_text="Evidence.")
    peak_value = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(help_text="When the issue was raised.")
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["code", "subject"],
                condition=Q(resolved_at__isnull=True),
                name="uniq_open_issue",
            ),
        ]
        indexes = [
            models.Index(fields=["conference", "type"], name="issue_conf_type"),
            models.Index(fields=["session", "created_at"], name="issue_session_created"),
            models.Index(fields=["app", "-created_at"], name="issue_app_created"),
        ]

    def __str__(self) -> str:
        return f"{self.code} on {self.subject}"

    @property
    def duration(self) -> float | None:
        if self.resolved_at is None:
            return None
        return (self.resolved_at - self.created_at).total_seconds()
