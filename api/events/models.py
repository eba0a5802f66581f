from __future__ import annotations

import orjson
from django.db import models

from api.calls.models import Conference, Connection, Participant, Session, Track
from api.common.ids import uuid7
from api.events.codec import report_decompress
from api.tenancy.models import App


class GenericEvent(models.Model):
    """One SDK event (browser, getUserMedia, connection or track), as sent."""

    class Category(models.TextChoices):
        BROWSER = "browser", "browser"
        GET_USER_MEDIA = "getUserMedia", "getUserMedia"
        CONNECTION = "connection", "connection"
        TRACK = "track", "track"
        STATS = "stats", "stats"

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="+")
    conference = models.ForeignKey(Conference, on_delete=models.CASCADE, related_name="events")
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="+")
    peer = models.ForeignKey(
        Participant, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="events")
    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    track = models.ForeignKey(
        Track, on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    type = models.CharField(max_length=64)
    category = models.CharField(max_length=16, choices=Category.choices)
    data = models.JSONField(null=True, blank=True)
    # Hash of what the SDK sent (without token and delta): a retried request
    # carries the same one and is not stored twice.
    fingerprint = models.CharField(max_length=32, blank=True, default="")
    created_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["conference", "created_at"], name="event_conf_created"),
            models.Index(fields=["session", "fingerprint"], name="event_session_fp"),
            models.Index(fields=["connection", "created_at"], name="event_conn_created"),
        ]

    def __str__(self) -> str:
        return f"{self.category}/{self.type} {self.id}"


def _plain_key(model: type[models.Model], related_name: str) -> models.ForeignKey:
    """A foreign key without a database constraint or an index of its own."""
    return models.ForeignKey(
        model,
        on_delete=models.CASCADE,
        related_name=related_name,
        db_constraint=False,
        db_index=False,
    )


class StatsSampleQuerySet(models.QuerySet):
    def with_owner(self) -> StatsSampleQuerySet:
        """Annotate each sample with its connection's ``session_id``,
        ``participant_id`` and ``peer_id`` (one join)."""
        return self.annotate(
            session_id=models.F("connection__session_id"),
            participant_id=models.F("connection__participant_id"),
            peer_id=models.F("connection__peer_id"),
        )


class StatsSample(models.Model):
    """One ``/v1/stats`` request: a getStats() sample of one connection.

    The raw report is kept compressed (it is read rarely: the events API and
    the admin); typed per-track metrics are extracted from it elsewhere."""

    # Shown as an event by the query API: of type and category "stats", on
    # no track.
    type = "stats"
    category = "stats"
    track_id = None

    # The foreign keys are plain columns: no database constraint (checked
    # by the ingest path, which reads the connection, or by the worker,
    # which drops samples of deleted connections) and no index of their own
    # (the two composite indexes serve every read). Each constraint is a
    # trigger lookup per inserted row and each index ~40 bytes per row, on
    # the table that grows fastest. Deleting through the ORM still cascades.
    # The session, participant and peer are the connection's (a connection
    # never changes owner): reached through it, not repeated on every row.
    # The app stays: it is the tenant key (docs/scaling.md).
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    app = _plain_key(App, "+")
    conference = _plain_key(Conference, "stats_samples")
    connection = _plain_key(Connection, "stats_samples")
    created_at = models.DateTimeField()
    # The UTC day of created_at: the partition key on PostgreSQL, and part of
    # the retry de-duplication key (a unique index on a partitioned table
    # must contain the partition key; a retry is back-dated to the same
    # moment as its original, so it falls on the same day).
    day = models.DateField()
    digest = models.BinaryField(max_length=16, help_text="Hash of the report: retries dedupe.")
    raw = models.BinaryField(help_text="The report as sent, compressed (api.events.codec).")

    objects = StatsSampleQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "digest", "day"], name="uniq_sample_digest"
            ),
        ]
        indexes = [
            models.Index(fields=["conference", "created_at"], name="sample_conf_created"),
        ]

    def __str__(self) -> str:
        return f"stats {self.id}"

    @property
    def data(self) -> dict:
        return orjson.loads(report_decompress(bytes(self.raw)))
