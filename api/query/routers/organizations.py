"""Organizations and their members.

Any member reads; only owners rename, delete and manage members."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Q
from ninja import Router, Status

from api.common.errors import ApiError
from api.query.auth import AuthedRequest
from api.query.responses import ERRORS
from api.query.schemas import (
    MemberAddIn,
    MemberOut,
    MemberUpdateIn,
    OrganizationIn,
    OrganizationOut,
    data_of,
    list_of,
)
from api.tenancy import services
from api.tenancy.models import Membership, Organization, User
from api.tenancy.selectors import members_of, organization_get_for, roles_of

router = Router(tags=["organizations"])

OWNER = Membership.Role.OWNER
MEMBER = Membership.Role.MEMBER

OrganizationData = data_of(OrganizationOut, "OrganizationData")
MemberData = data_of(MemberOut, "MemberData")


def _with_role(organization: Organization, role: str) -> Organization:
    organization.role = role  # type: ignore[attr-defined]
    return organization


def organizations_with_role(*, user: User) -> list[Organization]:
    """The user's organizations, oldest first, each with the user's ``role``."""
    roles = roles_of(user=user)
    organizations = Organization.objects.filter(pk__in=list(roles)).order_by("created_at", "pk")
    return [_with_role(organization, roles[organization.pk]) for organization in organizations]


@router.get(
    "/organizations", response={200: list_of(OrganizationOut, "OrganizationList"), **ERRORS}
)
def organization_list(request: AuthedRequest) -> Any:
    """The organizations the caller belongs to, with their role."""
    return {"data": organizations_with_role(user=request.auth)}


@router.post("/organizations", response={201: OrganizationData, **ERRORS})
def organization_create(request: AuthedRequest, payload: OrganizationIn) -> Any:
    """A new organization, owned by the caller."""
    organization = services.organization_create(name=payload.name, owner=request.auth)
    return Status(201, {"data": _with_role(organization, OWNER)})


@router.get("/organizations/{uuid:organization_id}", response={200: OrganizationData, **ERRORS})
def organization_detail(request: AuthedRequest, organization_id: uuid.UUID) -> Any:
    membership = organization_get_for(
        user=request.auth, organization_id=organization_id, role=MEMBER
    )
    return {"data": _with_role(membership.organization, membership.role)}


@router.put("/organizations/{uuid:organization_id}", response={200: OrganizationData, **ERRORS})
def organization_update(
    request: AuthedRequest, organization_id: uuid.UUID, payload: OrganizationIn
) -> Any:
    """Rename (owners only)."""
    membership = organization_get_for(
        user=request.auth, organization_id=organization_id, role=OWNER
    )
    organization = services.organization_update(
        organization=membership.organization, name=payload.name
    )
    return {"data": _with_role(organization, membership.role)}


@router.delete("/organizations/{uuid:organization_id}", response={200: str, **ERRORS})
def organization_delete(request: AuthedRequest, organization_id: uuid.UUID) -> Any:
    """Delete (owners only): the organization, its apps and their data
    disappear, and its apps' SDKs are refused."""
    membership = organization_get_for(
        user=request.auth, organization_id=organization_id, role=OWNER
    )
    services.organization_delete(organization=membership.organization)
    return ""


@router.get(
    "/organizations/{uuid:organization_id}/members",
    response={200: list_of(MemberOut, "MemberList"), **ERRORS},
)
def member_list(request: AuthedRequest, organization_id: uuid.UUID) -> Any:
    membership = organization_get_for(
        user=request.auth, organization_id=organization_id, role=MEMBER
    )
    return {"data": list(members_of(organization=membership.organization))}


@router.post("/organizations/{uuid:organization_id}/members", response={201: MemberData, **ERRORS})
def member_add(request: AuthedRequest, organization_id: uuid.UUID, payload: MemberAddIn) -> Any:
    """Add an existing user by username or email (owners only)."""
    membership = organization_get_for(
        user=request.auth, organization_id=organization_id, role=OWNER
    )
    if not payload.username and not payload.email:
        raise ApiError("missing_parameters", "'username' or 'email' is required.")
    lookup = Q(username=payload.username) if payload.username else Q(email__iexact=payload.email)
    users = list(User.objects.filter(lookup, is_active=True)[:2])
    # An email two accounts share names nobody in particular.
    if len(users) != 1:
        raise ApiError("user_not_found")
    added = services.membership_add(
        organization=membership.organization, user=users[0], role=payload.role
    )
    return Status(201, {"data": added})


def _member(request: AuthedRequest, organization_id: uuid.UUID, user_id: uuid.UUID, *, role: str):
    membership = organization_get_for(user=request.auth, organization_id=organization_id, role=role)
    target = (
        Membership.objects.select_related("user")
        .filter(organization_id=membership.organization_id, user_id=user_id)
        .first()
    )
    if target is None:
        raise ApiError("not_found")
    return target


@router.put(
    "/organizations/{uuid:organization_id}/members/{uuid:user_id}",
    response={200: MemberData, **ERRORS},
)
def member_update(
    request: AuthedRequest, organization_id: uuid.UUID, user_id: uuid.UUID, payload: MemberUpdateIn
) -> Any:
    """Change a member's role (owners only). The last owner stays owner."""
    target = _member(request, organization_id, user_id, role=OWNER)
    target = services.membership_role_change(membership=target, role=payload.role)
    return {"data": target}


@router.delete(
    "/organizations/{uuid:organization_id}/members/{uuid:user_id}",
    response={200: str, **ERRORS},
)
def member_remove(request: AuthedRequest, organization_id: uuid.UUID, user_id: uuid.UUID) -> Any:
    """Remove a member (owners; anyone may remove themselves). The last
    owner cannot leave."""
    leaving = user_id == request.auth.pk
    target = _member(request, organization_id, user_id, role=MEMBER if leaving else OWNER)
    services.membership_remove(membership=target)
    return ""
