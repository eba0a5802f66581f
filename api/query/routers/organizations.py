"""Organizations and their members.

Any member reads; only owners rename, delete, invite and manage members.
Nobody is added without their consent: an owner invites by username or
email, the person accepts."""

from __future__ import annotations

import uuid
from typing import Any

from ninja import Router, Status

from api.common.errors import ApiError
from api.query.auth import AuthedRequest
from api.query.responses import ERRORS
from api.query.schemas import (
    InvitationIn,
    InvitationOut,
    MemberOut,
    MemberUpdateIn,
    OrganizationIn,
    OrganizationOut,
    data_of,
    list_of,
)
from api.tenancy import services
from api.tenancy.models import Membership, Organization, User
from api.tenancy.selectors import (
    invitations_for,
    invitations_pending,
    members_of,
    organization_get_for,
    roles_of,
)

router = Router(tags=["organizations"])

OWNER = Membership.Role.OWNER
MEMBER = Membership.Role.MEMBER

OrganizationData = data_of(OrganizationOut, "OrganizationData")
MemberData = data_of(MemberOut, "MemberData")
InvitationData = data_of(InvitationOut, "InvitationData")


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


def _owned(request: AuthedRequest, organization_id: uuid.UUID) -> Organization:
    return organization_get_for(
        user=request.auth, organization_id=organization_id, role=OWNER
    ).organization


@router.get(
    "/organizations/{uuid:organization_id}/invitations",
    response={200: list_of(InvitationOut, "InvitationList"), **ERRORS},
)
def invitation_list(request: AuthedRequest, organization_id: uuid.UUID) -> Any:
    """Pending invitations (owners only)."""
    return {"data": list(invitations_pending(organization=_owned(request, organization_id)))}


@router.post(
    "/organizations/{uuid:organization_id}/invitations",
    response={201: InvitationData, **ERRORS},
)
def invitation_create(
    request: AuthedRequest, organization_id: uuid.UUID, payload: InvitationIn
) -> Any:
    """Invite someone by username or email (owners only); they become a
    member when they accept (``POST /v1/invitations/<id>/accept``). The
    answer is the same whether or not such a user exists."""
    invitation = services.invitation_create(
        organization=_owned(request, organization_id),
        invited_by=request.auth,
        role=payload.role,
        username=payload.username,
        email=payload.email,
    )
    return Status(201, {"data": invitation})


@router.delete(
    "/organizations/{uuid:organization_id}/invitations/{uuid:invitation_id}",
    response={200: str, **ERRORS},
)
def invitation_revoke(
    request: AuthedRequest, organization_id: uuid.UUID, invitation_id: uuid.UUID
) -> Any:
    """Withdraw a pending invitation (owners only)."""
    pending = invitations_pending(organization=_owned(request, organization_id))
    invitation = pending.filter(pk=invitation_id).first()
    if invitation is None:
        raise ApiError("not_found")
    services.invitation_revoke(invitation=invitation)
    return ""


@router.get("/invitations", response={200: list_of(InvitationOut, "MyInvitationList"), **ERRORS})
def my_invitations(request: AuthedRequest) -> Any:
    """The invitations addressed to the caller (by username or email)."""
    return {"data": list(invitations_for(user=request.auth))}


@router.post("/invitations/{uuid:invitation_id}/accept", response={201: MemberData, **ERRORS})
def invitation_accept(request: AuthedRequest, invitation_id: uuid.UUID) -> Any:
    """Accept an invitation addressed to the caller: they become a member
    with the invited role."""
    membership = services.invitation_accept(invitation_id=invitation_id, user=request.auth)
    return Status(201, {"data": membership})


@router.post("/invitations/{uuid:invitation_id}/decline", response={200: str, **ERRORS})
def invitation_decline(request: AuthedRequest, invitation_id: uuid.UUID) -> Any:
    services.invitation_decline(invitation_id=invitation_id, user=request.auth)
    return ""


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
