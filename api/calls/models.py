from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from api.tenancy.models import App


def default_connection_info() -> dict:
    return {"detected_tcp": False, "detected_turn": False, "negotiations": []}


class Conference(models.Model):
    """A call, identified by the application's ``conference_id`` within an app."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="conferences")
    conference_id = models.CharField(max_length=64)
    conference_name = models.CharField(max_length=64, null=True, blank=True)
    conference_info = models.JSONField(default=dict, blank=True)
    start_time = models.DateTimeField(null=True, blank=True)
    call_start = models.DateTimeField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)
    ongoing = models.BooleanField(default=False)
    duration = models.PositiveIntegerField(default=0, help_text="Seconds with ≥1 open connection.")
    created_at = models.DateTimeField(auto_now_add=True)
    participants: models.ManyToManyField = models.ManyToManyField(
        "Participant", through="ConferenceParticipant", related_name="conferences", blank=True
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["app", "conference_id"], name="uniq_conference_per_app"
            ),
        ]
        indexes = [
            models.Index(fields=["app", "-created_at"], name="conf_app_created"),
            models.Index(fields=["ongoing"], condition=Q(ongoing=True), name="conf_ongoing"),
        ]

    def __str__(self) -> str:
        return self.conference_name or self.conference_id


class Participant(models.Model):
    """An endpoint (a browser user or an SFU), identified by the application's
    ``participant_id`` within an app."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="participants")
    participant_id = models.CharField(max_length=64)
    participant_name = models.CharField(max_length=64, null=True, blank=True)
    is_sfu = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["app", "participant_id"], name="uniq_participant_per_app"
            ),
        ]
        indexes = [models.Index(fields=["app", "-created_at"], name="part_app_created")]

    def __str__(self) -> str:
        return self.participant_name or self.participant_id


class ConferenceParticipant(models.Model):
    """Link between a conference and a participant (local user or peer)."""

    id = models.BigAutoField(primary_key=True)
    conference = models.ForeignKey(Conference, on_delete=models.CASCADE)
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conference", "participant"], name="uniq_conference_participant"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.participant_id} in {self.conference_id}"


class Session(models.Model):
    """One participant's presence in one conference (one per page load)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="sessions")
    conference = models.ForeignKey(Conference, on_delete=models.CASCADE, related_name="sessions")
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="sessions")
    constraints = models.JSONField(default=dict, blank=True)
    devices = models.JSONField(default=list, blank=True)
    platform = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(null=True, blank=True)
    geo_ip = models.JSONField(default=dict, blank=True)
    app_version = models.CharField(max_length=16, null=True, blank=True)
    webrtc_sdk = models.CharField(max_length=16, null=True, blank=True)
    session_info = models.JSONField(default=dict, blank=True)
    duration = models.PositiveIntegerField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)
    call_start = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["conference", "created_at"], name="sess_conf_created"),
            models.Index(fields=["participant", "created_at"], name="sess_part_created"),
            models.Index(fields=["app", "-created_at"], name="sess_app_created"),
        ]

    def __str__(self) -> str:
        return f"session {self.id}"


class Connection(models.Model):
    """One RTCPeerConnection of a session, to a peer."""

    class Type(models.TextChoices):
        HOST = "host", "host"
        SRFLX = "srflx", "srflx"
        PRFLX = "prflx", "prflx"
        RELAY = "relay", "relay"

    class State(models.TextChoices):
        NEW = "new", "new"
        CONNECTING = "connecting", "connecting"
        CONNECTED = "connected", "connected"
        DISCONNECTED = "disconnected", "disconnected"
        FAILED = "failed", "failed"
        CLOSED = "closed", "closed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="connections")
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="connections")
    conference = models.ForeignKey(Conference, on_delete=models.CASCADE, related_name="connections")
    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="connections"
    )
    peer = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="peer_connections")
    type = models.CharField(max_length=8, choices=Type.choices, null=True, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.NEW)
    connection_info = models.JSONField(default=default_connection_info, blank=True)
    start_time = models.DateTimeField()
    end_time = models.DateTimeField(null=True, blank=True)
    duration = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["conference", "created_at"], name="conn_conf_created"),
            models.Index(fields=["session", "end_time"], name="conn_session_end"),
            models.Index(fields=["app", "-created_at"], name="conn_app_created"),
        ]

    def __str__(self) -> str:
        return f"connection {self.id}"


class Track(models.Model):
    """A media track: local (from getUserMedia, no connection) or sent/received
    on a connection."""

    class Kind(models.TextChoices):
        AUDIO = "audio", "audio"
        VIDEO = "video", "video"

    class Direction(models.TextChoices):
        INBOUND = "inbound", "inbound"
        OUTBOUND = "outbound", "outbound"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="tracks")
    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, null=True, blank=True, related_name="tracks"
    )
    # Null only while a state event (``unmute``) overtook the ``ontrack`` that
    # describes the track; ``ontrack`` fills it in.
    kind = models.CharField(max_length=8, choices=Kind.choices, null=True, blank=True)
    direction = models.CharField(max_length=8, choices=Direction.choices, default=Direction.INBOUND)
    track_id = models.CharField(max_length=64)
    label = models.CharField(max_length=128, null=True, blank=True)
    track_info = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # The natural keys (api.calls.services.track_get_or_create): a
            # track of a connection by direction and id, a local track
            # (no connection) by its session and id.
            models.UniqueConstraint(
                fields=["connection", "direction", "track_id"], name="uniq_track_of_connection"
            ),
            models.UniqueConstraint(
                fields=["session", "track_id"],
                condition=Q(connection__isnull=True),
                name="uniq_local_track_of_session",
            ),
        ]
        indexes = [
            models.Index(fields=["session", "track_id"], name="track_session_trackid"),
            models.Index(fields=["connection", "track_id"], name="track_conn_trackid"),
        ]

    def __str__(self) -> str:
        return f"{self.kind or '?'} {self.direction} {self.track_id}"
