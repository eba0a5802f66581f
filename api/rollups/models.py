from __future__ import annotations

from django.db import models

from api.calls.models import Conference
from api.tenancy.models import App


class CallSummary(models.Model):
    """What one ended call contributes to its app's day: its outcome, size,
    quality, and ``contribution`` (the counters added to ``AppDay.data``)."""

    class Outcome(models.TextChoices):
        GOOD = "good", "good"
        WARNING = "warning", "warnings"
        ERROR = "error", "errors"

    conference = models.OneToOneField(
        Conference, on_delete=models.CASCADE, primary_key=True, related_name="summary"
    )
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="+")
    # The UTC day the call started on (the day it is counted in).
    day = models.DateField()
    start_time = models.DateTimeField()
    end_time = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    seconds = models.PositiveIntegerField(default=0)
    participants = models.PositiveIntegerField(default=0)
    mos_min = models.FloatField(null=True, blank=True)
    mos_avg = models.FloatField(null=True, blank=True)
    video_avg = models.FloatField(null=True, blank=True)
    errors = models.PositiveIntegerField(default=0)
    warnings = models.PositiveIntegerField(default=0)
    # Higher is worse (api.rollups.summaries.badness): the order of "worst calls".
    badness = models.FloatField(default=0)
    contribution = models.JSONField(default=dict)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["app", "start_time"], name="callsum_app_start"),
            models.Index(fields=["app", "-badness"], name="callsum_app_badness"),
        ]

    def __str__(self) -> str:
        return f"{self.conference_id}: {self.outcome}"


class AppDay(models.Model):
    """The sum of the ``CallSummary.contribution`` of one app's calls that
    started on one UTC day: what the app overview reads."""

    id = models.BigAutoField(primary_key=True)
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    data = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["app", "day"], name="uniq_rollup_app_day")]

    def __str__(self) -> str:
        return f"{self.app_id} {self.day}"
