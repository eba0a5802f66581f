"""Reads of tenancy: what a user may see and do.

Everything the dashboard API shows is reached through :func:`apps_visible_to`
or :func:`organizations_visible_to`, so one place decides tenancy: a user
sees the active apps of the active organizations they are a member of, and
nothing else. Objects outside that set are answered exactly like objects
that do not exist (``not_found``), so their existence does not leak.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.db.models import OuterRef, Q, QuerySet, Subquery

from api.common.errors import ApiError
from api.common.time import now
from api.tenancy.models import App, AppUsageDay, Invitation, Membership, Organization, User

Role = Membership.Role

# A role can do everything the roles below it can.
ROLE_RANK = {Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}

# ``durations_days`` covers this many days, today included.
USAGE_WINDOW_DAYS = 31


def organizations_visible_to(*, user: User) -> QuerySet[Organization]:
    return Organization.objects.filter(is_active=True, memberships__user=user)


def apps_visible_to(*, user: User) -> QuerySet[App]:
    return App.objects.filter(
        is_active=True,
        organization__is_active=True,
        organization__memberships__user=user,
    )


def membership_get(*, user: User, organization_id: uuid.UUID) -> Membership:
    """The user's membership of an active organization. Raises ``not_found``
    when there is none (a foreign organization looks like a missing one)."""
    membership = (
        Membership.objects.select_related("organization")
        .filter(user=user, organization_id=organization_id, organization__is_active=True)
        .first()
    )
    if membership is None:
        raise ApiError("not_found")
    return membership


def role_require(*, held: str, role: str) -> None:
    """Raises ``permission_denied`` unless the ``held`` role is at least
    ``role``."""
    if ROLE_RANK[Role(held)] < ROLE_RANK[Role(role)]:
        raise ApiError("permission_denied")


def organization_get_for(*, user: User, organization_id: uuid.UUID, role: str) -> Membership:
    """The membership through which ``user`` may act on the organization
    with at least ``role``. ``not_found`` for non-members,
    ``permission_denied`` for members with a lower role."""
    membership = membership_get(user=user, organization_id=organization_id)
    role_require(held=membership.role, role=role)
    return membership


def app_get_for(*, user: User, app_id: uuid.UUID, role: str) -> App:
    """An active app the user may act on with at least ``role`` in its
    organization (one query). Same errors as :func:`organization_get_for`;
    the caller's role is left on the app as ``caller_role``."""
    held = Membership.objects.filter(user=user, organization_id=OuterRef("organization_id"))
    app = (
        App.objects.filter(pk=app_id, is_active=True, organization__is_active=True)
        .annotate(caller_role=Subquery(held.values("role")[:1]))
        .first()
    )
    if app is None or app.caller_role is None:
        raise ApiError("not_found")
    role_require(held=app.caller_role, role=role)
    return app


def roles_of(*, user: User) -> dict[uuid.UUID, str]:
    """Organization id → the user's role there."""
    return dict(
        Membership.objects.filter(user=user, organization__is_active=True).values_list(
            "organization_id", "role"
        )
    )


def usage_days_of(*, app_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, int]]:
    """Per app, connected seconds per UTC day for the last 31 days, today
    included, days without usage as 0 (the seed's ``durations_days``).
    One query for any number of apps."""
    today = now().date()
    days = [today - timedelta(days=offset) for offset in range(USAGE_WINDOW_DAYS - 1, -1, -1)]
    usage = {app_id: {day.isoformat(): 0 for day in days} for app_id in app_ids}
    rows = AppUsageDay.objects.filter(app_id__in=app_ids, day__gte=days[0], day__lte=today)
    for app_id, day, seconds in rows.values_list("app_id", "day", "seconds"):
        usage[app_id][day.isoformat()] = seconds
    return usage


def members_of(*, organization: Organization) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(organization=organization)
        .select_related("user")
        .order_by("created_at", "id")
    )


def invitations_pending(*, organization: Organization) -> QuerySet[Invitation]:
    """An organization's invitations nobody answered yet, not lapsed."""
    return Invitation.objects.filter(
        organization=organization,
        accepted_at__isnull=True,
        declined_at__isnull=True,
        expires_at__gt=now(),
    ).order_by("created_at", "pk")


def invitations_for(*, user: User) -> QuerySet[Invitation]:
    """The pending invitations addressed to the user: by their username,
    or by their email address (when they have one)."""
    addressed = Q(username=user.username) & ~Q(username="")
    if user.email:
        addressed |= Q(username="", email__iexact=user.email)
    return (
        Invitation.objects.filter(
            addressed,
            accepted_at__isnull=True,
            declined_at__isnull=True,
            expires_at__gt=now(),
            organization__is_active=True,
        )
        .select_related("organization")
        .order_by("created_at", "pk")
    )


# ------------------------------------------------------------- the SDK's app

API_KEY_RE = re.compile(r"^[a-z0-9]{32}$")


def app_of_api_key(*, api_key: Any, fields: tuple[str, ...] = ()) -> App:
    """The active app of an active organization whose api key this is
    (only ``fields`` loaded, when given). Raises ``invalid_api_key`` for a
    malformed, unknown or deactivated key."""
    if not isinstance(api_key, str) or not API_KEY_RE.match(api_key):
        raise ApiError("invalid_api_key")
    apps = App.objects.filter(api_key=api_key, is_active=True, organization__is_active=True)
    app = (apps.only(*fields) if fields else apps).first()
    if app is None:
        raise ApiError("invalid_api_key")
    return app


def app_for_recording(*, api_key: Any, origin: str | None) -> App:
    """The app an SDK page may start recording for (``/initialize``).

    Raises ``invalid_api_key`` (see :func:`app_of_api_key`),
    ``app_not_recording`` when the app's recording is off, and
    ``domain_not_allowed`` when the app names its domains and the page's
    ``Origin`` is not one of them. One query."""
    app = app_of_api_key(
        api_key=api_key, fields=("id", "recording", "domain", "interval", "keep_user_names")
    )
    if not app.recording:
        raise ApiError("app_not_recording")
    if app.domain and not origin_allowed(domain=app.domain, origin=origin):
        raise ApiError("domain_not_allowed")
    return app


def _host(value: str) -> str | None:
    """The lower-case host of an origin or of an allowed-domain entry;
    scheme, port and path are ignored. None when there is no host."""
    value = value.strip().lower()
    if "://" not in value:
        if value.count(":") > 1 and "[" not in value:
            return value  # a bare IPv6 address
        value = f"//{value}"
    try:
        return urlsplit(value).hostname or None
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return None


def origin_allowed(*, domain: str, origin: str | None) -> bool:
    """``domain`` is a host, several separated by commas or spaces, or
    ``*.example.com`` (every subdomain, not the domain itself). Hosts such as
    ``localhost`` and IP addresses are allowed entries."""
    host = _host(origin) if origin else None
    if host is None:
        return False
    for entry in re.split(r"[,\s]+", domain):
        allowed = _host(entry) if entry else None
        if allowed is None:
            continue
        if allowed.startswith("*."):
            if host.endswith(allowed[1:]):
                return True
        elif host == allowed:
            return True
    return False
