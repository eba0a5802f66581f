"""Writes to tenancy: organizations, memberships and apps."""

from __future__ import annotations

from django.db import transaction

from api.tenancy.models import App, Membership, Organization, User, new_api_key


@transaction.atomic
def organization_create(*, name: str, owner: User | None = None) -> Organization:
    organization = Organization.objects.create(name=name[:64])
    if owner is not None:
        Membership.objects.create(user=owner, organization=organization, role=Membership.Role.OWNER)
    return organization


def app_create(*, organization: Organization, name: str, api_key: str | None = None) -> App:
    return App.objects.create(
        organization=organization, name=name[:64], api_key=api_key or new_api_key()
    )


def app_key_reset(*, app: App) -> App:
    """Give the app a new api key; SDKs holding the old one get
    ``invalid_api_key`` at their next ``/initialize``."""
    app.api_key = new_api_key()
    app.save(update_fields=["api_key"])
    return app
