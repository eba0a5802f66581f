"""Writes to tenancy: organizations, memberships, apps and API tokens.

Permission checks (who may call these) are made by the caller through
``api.tenancy.selectors``; these functions enforce the rules that hold
whoever calls them (an organization keeps an owner, a domain is a host).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from django.db import IntegrityError, transaction

from api.common.errors import ApiError
from api.common.time import now
from api.tenancy.app_state import app_states_changed
from api.tenancy.models import (
    ApiToken,
    App,
    Invitation,
    Membership,
    Organization,
    User,
    new_api_key,
)

# getStats() intervals outside this range are mistakes: below a second the
# browser spends its time in getStats(), above ten minutes nothing is seen.
INTERVAL_MIN_MS = 1_000
INTERVAL_MAX_MS = 600_000

# One entry of an App's ``domain``: a host name (``*.`` allowed in front), an
# IPv4 address or ``localhost``, optionally with a port, which is ignored.
_DOMAIN_ENTRY = re.compile(
    r"^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(:\d{1,5})?$"
)

TOKEN_PREFIX = "pm_"
# ``last_used_at`` is precise to this much: a script calling in a loop must
# not turn every read into a write.
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)


def _name_clean(value: str) -> str:
    """Names are trimmed and cut to 64 characters (as the original did)."""
    name = value.strip()[:64]
    if not name:
        raise ApiError("missing_parameters", "'name' must not be empty.")
    return name


# ------------------------------------------------------------- organizations


@transaction.atomic
def organization_create(*, name: str, owner: User | None = None) -> Organization:
    """A new organization; ``owner`` (if given) becomes its owner. Errors:
    ``missing_parameters`` (empty name)."""
    organization = Organization.objects.create(name=_name_clean(name))
    if owner is not None:
        Membership.objects.create(user=owner, organization=organization, role=Membership.Role.OWNER)
    return organization


def organization_update(*, organization: Organization, name: str) -> Organization:
    """Rename. Errors: ``missing_parameters`` (empty name)."""
    organization.name = _name_clean(name)
    organization.save(update_fields=["name"])
    return organization


def organization_delete(*, organization: Organization) -> None:
    """Soft delete: the organization, its apps and their data disappear from
    the API and its apps' SDKs can no longer ``/initialize``; rows stay."""
    Organization.objects.filter(pk=organization.pk).update(is_active=False)
    app_states_changed()  # running sessions of its apps stop at their next request


# --------------------------------------------------------------- memberships


def _owners_left(*, organization_id, without: Membership) -> int:
    return (
        Membership.objects.filter(organization_id=organization_id, role=Membership.Role.OWNER)
        .exclude(pk=without.pk)
        .count()
    )


def _organization_lock(organization_id) -> None:
    # Two owners demoting each other at once must not both succeed: the
    # "is another owner left" check runs under the organization row lock.
    Organization.objects.select_for_update().filter(pk=organization_id).first()


def membership_add(*, organization: Organization, user: User, role: str) -> Membership:
    """Add a user (the API does so only through an accepted invitation).
    Errors: ``user_already_member``."""
    try:
        with transaction.atomic():
            return Membership.objects.create(organization=organization, user=user, role=role)
    except IntegrityError as exc:
        raise ApiError("user_already_member") from exc


@transaction.atomic
def membership_role_change(*, membership: Membership, role: str) -> Membership:
    """Change a member's role. Errors: ``last_owner`` when this would leave
    the organization without an owner."""
    _organization_lock(membership.organization_id)
    if (
        membership.role == Membership.Role.OWNER
        and role != Membership.Role.OWNER
        and not _owners_left(organization_id=membership.organization_id, without=membership)
    ):
        raise ApiError("last_owner")
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership) -> None:
    """Remove a member. Errors: ``last_owner`` for the only owner."""
    _organization_lock(membership.organization_id)
    if membership.role == Membership.Role.OWNER and not _owners_left(
        organization_id=membership.organization_id, without=membership
    ):
        raise ApiError("last_owner")
    membership.delete()


# --------------------------------------------------------------- invitations

# An invitation not answered within this long lapses.
INVITATION_DAYS = 14


def invitation_create(
    *,
    organization: Organization,
    invited_by: User,
    role: str,
    username: str | None = None,
    email: str | None = None,
) -> Invitation:
    """Invite whoever has this username or email (one of the two) into the
    organization with ``role``; they become a member when they accept
    (:func:`invitation_accept`). Whether such a user exists is never
    looked up here, so no answer built from this tells it. Errors:
    ``missing_parameters`` (neither given), ``invalid_parameters``."""
    username = (username or "").strip()
    email = (email or "").strip()
    if not username and not email:
        raise ApiError("missing_parameters", "'username' or 'email' is required.")
    if username and email:
        raise ApiError("invalid_parameters", "Give 'username' or 'email', not both.")
    if len(username) > 150:
        raise ApiError("invalid_parameters", "'username' is longer than 150 characters.")
    if email and (len(email) > 254 or "@" not in email.strip("@")):
        raise ApiError("invalid_parameters", "'email' is not an email address.")
    return Invitation.objects.create(
        organization=organization,
        username=username,
        email=email,
        role=role,
        invited_by=invited_by,
        expires_at=now() + timedelta(days=INVITATION_DAYS),
    )


def invitation_addressed_to(*, invitation: Invitation, user: User) -> bool:
    if invitation.username:
        return invitation.username == user.username
    return bool(user.email) and invitation.email.lower() == user.email.lower()


def _invitation_pending_for(*, invitation_id, user: User) -> Invitation:
    invitation = (
        Invitation.objects.select_for_update()
        .filter(
            pk=invitation_id,
            accepted_at__isnull=True,
            declined_at__isnull=True,
            expires_at__gt=now(),
            organization__is_active=True,
        )
        .first()
    )
    # Someone else's invitation is answered like one that does not exist.
    if invitation is None or not invitation_addressed_to(invitation=invitation, user=user):
        raise ApiError("not_found")
    return invitation


@transaction.atomic
def invitation_accept(*, invitation_id, user: User) -> Membership:
    """The user accepts an invitation addressed to them (by username or by
    email): they become a member with the invited role. Errors:
    ``not_found`` (unknown, someone else's, expired, answered already),
    ``user_already_member``. Idempotent in effect: a second accept is a
    ``not_found``."""
    invitation = _invitation_pending_for(invitation_id=invitation_id, user=user)
    membership = membership_add(
        organization=invitation.organization, user=user, role=invitation.role
    )
    invitation.accepted_at = now()
    invitation.save(update_fields=["accepted_at"])
    return membership


@transaction.atomic
def invitation_decline(*, invitation_id, user: User) -> None:
    """The user declines an invitation addressed to them. Errors: ``not_found``."""
    invitation = _invitation_pending_for(invitation_id=invitation_id, user=user)
    invitation.declined_at = now()
    invitation.save(update_fields=["declined_at"])


def invitation_revoke(*, invitation: Invitation) -> None:
    """An owner withdraws a pending invitation."""
    invitation.delete()


# ---------------------------------------------------------------------- apps


def _domain_clean(value: str | None) -> str:
    """The ``domain`` of an app: empty (any page may use the SDK) or hosts
    separated by commas or spaces. Errors: ``invalid_parameters``."""
    if value is None:
        return ""
    cleaned = value.strip().lower()
    if len(cleaned) > 256:
        raise ApiError("invalid_parameters", "'domain' is longer than 256 characters.")
    for entry in re.split(r"[,\s]+", cleaned):
        if entry and not _DOMAIN_ENTRY.match(entry):
            raise ApiError("invalid_parameters", f"'domain' has an invalid host: {entry!r}.")
    return cleaned


def _interval_clean(value: int) -> int:
    if not INTERVAL_MIN_MS <= value <= INTERVAL_MAX_MS:
        raise ApiError(
            "invalid_parameters",
            f"'interval' must be between {INTERVAL_MIN_MS} and {INTERVAL_MAX_MS} ms.",
        )
    return value


def app_create(
    *,
    organization: Organization,
    name: str,
    api_key: str | None = None,
    domain: str | None = None,
    interval: int | None = None,
    recording: bool = True,
) -> App:
    """A new app with a fresh api key (or ``api_key``). Errors:
    ``missing_parameters`` (empty name), ``invalid_parameters`` (domain,
    interval)."""
    fields = {
        "organization": organization,
        "name": _name_clean(name),
        "api_key": api_key or new_api_key(),
        "domain": _domain_clean(domain),
        "recording": recording,
    }
    if interval is not None:
        fields["interval"] = _interval_clean(interval)
    return App.objects.create(**fields)


def app_update(
    *,
    app: App,
    name: str | None = None,
    domain: str | None = None,
    interval: int | None = None,
    recording: bool | None = None,
    clear_domain: bool = False,
) -> App:
    """Change the given fields, leave the others. ``clear_domain`` lifts the
    domain restriction. Same errors as :func:`app_create`."""
    changed = []
    if name is not None:
        app.name = _name_clean(name)
        changed.append("name")
    if domain is not None or clear_domain:
        app.domain = _domain_clean(domain)
        changed.append("domain")
    if interval is not None:
        app.interval = _interval_clean(interval)
        changed.append("interval")
    if recording is not None:
        app.recording = recording
        changed.append("recording")
    if changed:
        app.save(update_fields=changed)
    if recording is not None:
        app_states_changed()
    return app


def app_delete(*, app: App) -> None:
    """Soft delete: the app and its data disappear from the API, its SDKs
    can no longer ``/initialize`` and its running sessions are refused
    (``invalid_token``) from their next request."""
    App.objects.filter(pk=app.pk).update(is_active=False)
    app_states_changed()


def app_key_reset(*, app: App) -> App:
    """Give the app a new api key; SDKs holding the old one get
    ``invalid_api_key`` at their next ``/initialize``."""
    app.api_key = new_api_key()
    app.save(update_fields=["api_key"])
    return app


# ---------------------------------------------------------------- API tokens


def _token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """A new personal API token. Returns the row and the token itself, which
    is shown once: only its SHA-256 is stored."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=_name_clean(name), prefix=raw[:12], token_hash=_token_hash(raw)
    )
    return token, raw


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    """Revoke a token (idempotent): it never authenticates again."""
    if token.revoked_at is None:
        token.revoked_at = now()
        token.save(update_fields=["revoked_at"])
    return token


def api_token_authenticate(*, raw: str) -> User | None:
    """The active user a presented token belongs to, or None (unknown,
    revoked, inactive user). Records the time of use, to the minute."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 128:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=_token_hash(raw), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    at = now()
    if token.last_used_at is None or at - token.last_used_at >= TOKEN_TOUCH_INTERVAL:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=at)
    return token.user
