from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models


def new_api_key() -> str:
    """32 lowercase hex characters: the form the SDK's original server checked
    (``[a-z0-9]{32}``)."""
    return secrets.token_hex(16)


def default_stats_interval() -> int:
    return settings.CONFIG.stats_interval_ms


class User(AbstractUser):
    """A person who logs into the dashboard or the admin."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)

    class Meta:
        db_table = "users"


class Organization(models.Model):
    """A tenant: owns apps; users see it through a membership."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=64)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(
        User, through="Membership", related_name="organizations", blank=True
    )

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's role in one organization."""

    class Role(models.TextChoices):
        OWNER = "owner", "owner"
        ADMIN = "admin", "admin"
        MEMBER = "member", "member"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="uniq_membership"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


class AddressPrivacy(models.TextChoices):
    TRUNCATE = "truncate", "truncate"
    HASH = "hash", "hash"
    KEEP = "keep", "keep"


class App(models.Model):
    """An application monitored through the SDK, authenticated by its api key."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=64)
    api_key = models.CharField(max_length=32, unique=True, default=new_api_key)
    domain = models.CharField(
        max_length=256,
        blank=True,
        default="",
        help_text="Only pages on this host may initialize the SDK (empty: any). "
        "A leading '*.' allows every subdomain.",
    )
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="apps")
    interval = models.PositiveIntegerField(
        default=default_stats_interval, help_text="getStats() interval sent to the SDK, in ms."
    )
    recording = models.BooleanField(default=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Privacy (docs/security.md): what is kept of what the SDK sends.
    address_privacy = models.CharField(
        max_length=8,
        choices=AddressPrivacy.choices,
        default=AddressPrivacy.TRUNCATE,
        help_text="IP addresses of ICE candidates, SDP and stats, before storage: "
        "truncated to their /24 (IPv6 /48), hashed, or kept. ICE credentials and "
        "fingerprints are always removed.",
    )
    keep_user_names = models.BooleanField(
        default=False,
        help_text="Store the userName and peerName the SDK sends (off: only the ids).",
    )
    retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Calls older than this many days are deleted with all their data "
        "(empty: STATS_RETENTION_DAYS for stats samples, calls kept).",
    )

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.name


class AppUsageDay(models.Model):
    """Connected seconds of one app on one UTC day (the seed's
    ``durations_days`` map, one row per day so concurrent calls add to it
    with an atomic increment instead of rewriting a JSON map)."""

    id = models.BigAutoField(primary_key=True)
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="usage_days")
    day = models.DateField()
    seconds = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["app", "day"], name="uniq_app_usage_day")]

    def __str__(self) -> str:
        return f"{self.app_id} {self.day}: {self.seconds}s"


class ApiToken(models.Model):
    """A personal API token for scripts; only its SHA-256 is stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=64)
    prefix = models.CharField(max_length=12, help_text="The first characters, to recognise it.")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class Invitation(models.Model):
    """An owner's invitation of a person (named by username or email) into
    an organization; a membership only once that person accepts."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invitations"
    )
    # What the owner typed: one of the two.
    username = models.CharField(max_length=150, blank=True, default="")
    email = models.EmailField(blank=True, default="")
    role = models.CharField(max_length=8, choices=Membership.Role.choices, default="member")
    invited_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    declined_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["username"]), models.Index(fields=["email"])]

    def __str__(self) -> str:
        return f"{self.username or self.email} to {self.organization_id} ({self.role})"
