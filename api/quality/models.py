from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from api.calls.models import Conference, Connection, Participant, Session, Track
from api.events.partitioning import PartitionedTable
from api.quality.catalogue import issue_explanation, issue_title
from api.tenancy.models import App


class RealField(models.FloatField):
    """A 4-byte float (``real``) instead of Django's 8-byte ``double``.

    Metrics are measurements with two or three significant digits; halving
    their width keeps a metric row, which is written for every track of
    every stats sample, narrow."""

    def db_type(self, connection) -> str:
        return "real"


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
    # The severity: a warning may be escalated to an error while it lasts.
    type = models.CharField(max_length=8, choices=Type.choices)
    code = models.CharField(max_length=40)
    # What the issue is about, e.g. ``connection:<uuid>``: at most one open
    # issue per (code, subject), so retries and repeats never duplicate.
    subject = models.CharField(max_length=128)
    data = models.JSONField(null=True, blank=True, help_text="Evidence.")
    peak_value = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(help_text="When the problem started.")
    resolved_at = models.DateTimeField(null=True, blank=True)
    # One diagnosis per cause (api.quality.diagnosis): a detector's issue
    # that follows from a diagnosed cause (loss → concealment → low MOS; a
    # sender's stopped media → its receivers' dry tracks) points at the
    # cause's issue, which carries the worst severity of its symptoms.
    # Empty: a primary issue (a cause, or an issue no cause explains).
    cause = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="symptoms",
        help_text="The diagnosed cause this issue is a symptom of.",
    )

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
            # "Was this ever raised for this subject?" (once-only checks,
            # counters on an existing issue), open or resolved.
            models.Index(fields=["subject", "code"], name="issue_subject_code"),
        ]

    def __str__(self) -> str:
        return f"{self.code} on {self.subject}"

    @property
    def duration(self) -> float | None:
        if self.resolved_at is None:
            return None
        return (self.resolved_at - self.created_at).total_seconds()

    @property
    def title(self) -> str:
        return issue_title(self.code)

    @property
    def explanation(self) -> str:
        return issue_explanation(self.code)


class TrackMetric(models.Model):
    """Typed metrics of one track (one inbound/outbound RTP stream) over the
    interval that ends at one stats sample: ``created_at`` is the sample's
    time, ``interval_s`` the length of the interval (empty on the first
    sample of a stream, or after a gap, when no rate can be computed).

    The app, conference, session, participant and peer are those of the
    connection (a connection never changes owner), so they are not repeated
    on every row: a row stays about 130 bytes on PostgreSQL."""

    class Kind(models.TextChoices):
        AUDIO = "audio", "audio"
        VIDEO = "video", "video"

    class Direction(models.TextChoices):
        INBOUND = "inbound", "inbound"
        OUTBOUND = "outbound", "outbound"

    id = models.BigAutoField(primary_key=True)
    # Indexed by the composite index below, not one index per key.
    # No database constraints on this high-volume table (one trigger lookup
    # per inserted row each); the ORM's delete still cascades from them.
    # The conference is the connection's: a conference's rows are found
    # through its connections.
    connection = models.ForeignKey(
        Connection,
        on_delete=models.CASCADE,
        db_index=False,
        db_constraint=False,
        related_name="+",
    )
    # A track only goes away with its connection,
    # whose cascade removes these rows; the reference stays a plain column.
    track = models.ForeignKey(
        Track,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField()
    kind = models.CharField(max_length=5, choices=Kind.choices)
    direction = models.CharField(max_length=8, choices=Direction.choices)
    interval_s = RealField(null=True, blank=True)
    bitrate = RealField(null=True, blank=True, help_text="bit/s")
    packet_rate = RealField(null=True, blank=True, help_text="packets/s")
    packets = models.IntegerField(null=True, blank=True, help_text="Received or sent.")
    packets_lost = models.IntegerField(null=True, blank=True)
    loss_pct = RealField(null=True, blank=True)
    jitter_ms = RealField(null=True, blank=True)
    rtt_ms = RealField(null=True, blank=True)
    jitter_buffer_ms = RealField(null=True, blank=True)
    fps = RealField(null=True, blank=True)
    width = models.PositiveSmallIntegerField(null=True, blank=True)
    height = models.PositiveSmallIntegerField(null=True, blank=True)
    freeze_count = models.PositiveSmallIntegerField(null=True, blank=True)
    freeze_ms = RealField(null=True, blank=True)
    concealment_pct = RealField(null=True, blank=True)
    limitation = models.CharField(
        max_length=9, null=True, blank=True, help_text="qualityLimitationReason"
    )
    mos = RealField(null=True, blank=True, help_text="Audio MOS (E-model), inbound audio.")
    video_score = RealField(null=True, blank=True, help_text="Video score 1–5, inbound video.")

    class Meta:
        indexes = [
            # Every read is by connection (a conference's rows: by its
            # connections), and the day partitions bound the time. Without a
            # time column the key repeats for every row of a track, which
            # b-tree deduplication stores once per page with a list of row
            # pointers: ~8 bytes a row instead of ~90 for a (connection,
            # track, time) key filled unevenly by concurrent inserts. It also
            # serves the cascade when a connection is deleted.
            models.Index(fields=["connection", "track"], name="metric_conn_track_v2"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.direction} at {self.created_at}"


# PostgreSQL: one partition per day of ``created_at`` (api.events.partitioning;
# migration 0005 made the table partitioned, maintain_partitions keeps it).
METRIC_PARTITIONS = PartitionedTable(
    table="quality_trackmetric",
    key="created_at",
    key_is_date=False,
    sequence_column="id",
    model="quality.TrackMetric",
)
