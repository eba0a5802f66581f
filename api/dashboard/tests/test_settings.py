"""Settings pages: writes go through the tenancy services with the query
API's rules (members read, admins manage apps, owners manage members)."""

from __future__ import annotations

import pytest
from django.test import Client

from api.tenancy.models import ApiToken, Membership


def _initialize(sdk, key: str):
    return sdk.post("/v1/initialize", {"apiKey": key, "userId": "u1", "conferenceId": "c1"})


@pytest.mark.django_db
def test_rotating_the_key_shows_the_new_one_once_and_the_old_one_is_refused(acme, logged_in, sdk):
    old = acme.app.api_key
    assert _initialize(sdk, old).status == 200
    client = logged_in(acme.admin)

    answer = client.post(f"/app/{acme.app.pk}/settings/rotate-key", follow=True)

    acme.app.refresh_from_db()
    assert acme.app.api_key != old
    assert acme.app.api_key in answer.content.decode()
    assert acme.app.api_key not in client.get(f"/app/{acme.app.pk}/settings").content.decode()
    assert _initialize(sdk, old).json["error_code"] == "invalid_api_key"
    assert _initialize(sdk, acme.app.api_key).status == 200


@pytest.mark.django_db
def test_a_member_sees_no_rotate_button_and_a_forged_post_is_refused(acme, logged_in):
    client = logged_in(acme.member)
    old = acme.app.api_key

    page = client.get(f"/app/{acme.app.pk}/settings").content.decode()
    forged = client.post(f"/app/{acme.app.pk}/settings/rotate-key")
    edit = client.post(f"/app/{acme.app.pk}/settings", {"name": "hacked", "interval": 2000})

    assert 'id="rotate-key"' not in page
    assert forged.status_code == 403 and edit.status_code == 403
    acme.app.refresh_from_db()
    assert acme.app.api_key == old and acme.app.name == "acme app"


@pytest.mark.django_db
def test_an_admin_changes_domain_recording_and_interval(acme, logged_in):
    client = logged_in(acme.admin)

    answer = client.post(
        f"/app/{acme.app.pk}/settings",
        {"name": "Acme video", "domain": "*.acme.test", "interval": "5000"},
    )

    assert answer.status_code == 302
    acme.app.refresh_from_db()
    assert (acme.app.domain, acme.app.recording, acme.app.interval) == ("*.acme.test", False, 5000)
    bad = client.post(
        f"/app/{acme.app.pk}/settings", {"name": "x", "domain": "not a host!", "interval": "5000"}
    )
    assert bad.status_code == 200 and "invalid host" in bad.content.decode()


@pytest.mark.django_db
def test_owners_manage_members_and_admins_cannot(acme, logged_in, globex):
    url = f"/organization/{acme.organization.pk}"
    admin = logged_in(acme.admin)
    assert (
        admin.post(url, {"action": "add", "username": "globex-owner", "role": "member"}).status_code
        == 403
    )

    owner = logged_in(acme.owner)
    assert (
        owner.post(url, {"action": "add", "username": "globex-owner", "role": "member"}).status_code
        == 302
    )
    # an invitation, not a membership, until its addressee accepts
    assert not Membership.objects.filter(organization=acme.organization, user=globex.owner)
    from api.tenancy.selectors import invitations_for
    from api.tenancy.services import invitation_accept

    invitation = invitations_for(user=globex.owner).get()
    invitation_accept(invitation_id=invitation.pk, user=globex.owner)
    added = Membership.objects.get(organization=acme.organization, user=globex.owner)
    owner.post(url, {"action": "role", "membership": added.pk, "role": "admin"})
    added.refresh_from_db()
    assert added.role == "admin"
    owner.post(url, {"action": "remove", "membership": added.pk})
    assert not Membership.objects.filter(pk=added.pk).exists()

    last = Membership.objects.get(organization=acme.organization, user=acme.owner)
    answer = owner.post(url, {"action": "remove", "membership": last.pk})
    assert answer.status_code == 200 and "owner" in answer.content.decode()
    assert Membership.objects.filter(pk=last.pk).exists()


@pytest.mark.django_db
def test_personal_tokens_are_shown_once_and_can_be_revoked(acme, logged_in):
    client = logged_in(acme.member)

    answer = client.post("/account/tokens", {"action": "create", "name": "report"})

    raw = answer.content.decode().split('id="new-token" class="key">', 1)[1].split("<", 1)[0]
    assert raw.startswith("pm_")
    assert _me_status(raw) == 200
    token = ApiToken.objects.get(user=acme.member)
    assert raw not in client.get("/account/tokens").content.decode()
    client.post("/account/tokens", {"action": "revoke", "token": token.pk})
    assert _me_status(raw) == 401


def _me_status(raw: str) -> int:
    return Client().get("/v1/auth/me", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code
