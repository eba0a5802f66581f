"""What interop keeps of its own: which conferences came from a dump."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from api.calls.models import Conference


class ImportedDump(models.Model):
    """A conference made from a browser dump, not from SDK traffic (the
    call model itself is the same: this row only tags it and says where it
    came from)."""

    class Format(models.TextChoices):
        INTERNALS = "webrtc-internals", "chrome://webrtc-internals"
        RTCSTATS = "rtcstats", "rtcstats (format 3)"

    conference = models.OneToOneField(
        Conference, on_delete=models.CASCADE, primary_key=True, related_name="imported_dump"
    )
    format = models.CharField(max_length=16, choices=Format.choices)
    filename = models.CharField(max_length=255, blank=True, default="")
    size = models.PositiveBigIntegerField(help_text="Bytes of the file as uploaded.")
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Chrome keeps the last 1000 values of each series: older ones are lost.
    stats_truncated = models.BooleanField(default=False)
    summary = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.format} dump {self.filename or self.conference_id}"
