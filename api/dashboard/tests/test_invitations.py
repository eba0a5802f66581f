"""Invitations on the dashboard: owners invite by username or email from
the members page (the tenancy services, the query API's rules), the
invitee accepts or declines on their invitations page, and no answer tells
whether a name belongs to a user."""

from __future__ import annotations

import pytest

from api.query.tests.factories import user_make
from api.tenancy.models import Invitation, Membership


def _invite(client, organization, who: str, role: str = "member"):
    return client.post(
        f"/organization/{organization.pk}", {"action": "add", "username": who, "role": role}
    )


@pytest.mark.django_db
@pytest.mark.parametrize("by", ["username", "email"])
def test_an_owner_invites_and_the_invitee_accepts_and_sees_the_organization(acme, logged_in, by):
    dana = user_make("dana")
    owner = logged_in(acme.owner)

    answer = _invite(owner, acme.organization, getattr(dana, by), role="admin")

    assert answer.status_code == 302
    notice = owner.get(answer["Location"]).content.decode()
    assert 'id="invited"' in notice and getattr(dana, by) in notice  # among the pending ones
    invitee = logged_in(dana)
    assert invitee.get(f"/organization/{acme.organization.pk}").status_code == 404
    mine = invitee.get("/account/invitations").content.decode()
    assert acme.organization.name in mine
    invitation = Invitation.objects.get()

    accepted = invitee.post(
        "/account/invitations", {"invitation": invitation.pk, "action": "accept"}
    )

    assert accepted["Location"] == f"/organization/{acme.organization.pk}"
    assert Membership.objects.get(organization=acme.organization, user=dana).role == "admin"
    members = invitee.get(accepted["Location"]).content.decode()
    assert "dana" in members and acme.organization.name in members
    assert invitee.get(f"/app/{acme.app.pk}").status_code == 200
    assert "No pending invitations" in invitee.get("/account/invitations").content.decode()
    # answered: a second accept is the 404 of an invitation that does not exist
    again = invitee.post("/account/invitations", {"invitation": invitation.pk, "action": "accept"})
    assert again.status_code == 404


@pytest.mark.django_db
def test_the_invitee_declines_and_stays_out(acme, logged_in):
    dana = user_make("dana")
    _invite(logged_in(acme.owner), acme.organization, "dana")
    invitation = Invitation.objects.get()
    invitee = logged_in(dana)

    answer = invitee.post(
        "/account/invitations", {"invitation": invitation.pk, "action": "decline"}
    )

    assert answer["Location"] == "/account/invitations"
    invitation.refresh_from_db()
    assert invitation.declined_at is not None
    assert not Membership.objects.filter(user=dana).exists()
    assert invitee.get(f"/organization/{acme.organization.pk}").status_code == 404


@pytest.mark.django_db
def test_an_answer_that_is_neither_accept_nor_decline_changes_nothing(acme, logged_in):
    dana = user_make("dana")
    _invite(logged_in(acme.owner), acme.organization, "dana")
    invitation = Invitation.objects.get()

    answer = logged_in(dana).post("/account/invitations", {"invitation": invitation.pk})

    assert answer.status_code == 200 and "Accept or decline" in answer.content.decode()
    invitation.refresh_from_db()
    assert invitation.accepted_at is None and invitation.declined_at is None


@pytest.mark.django_db
def test_someone_elses_invitation_cannot_be_accepted(acme, globex, logged_in):
    user_make("dana")
    _invite(logged_in(acme.owner), acme.organization, "dana")
    invitation = Invitation.objects.get()
    stranger = logged_in(globex.member)

    assert acme.organization.name not in stranger.get("/account/invitations").content.decode()
    answer = stranger.post(
        "/account/invitations", {"invitation": invitation.pk, "action": "accept"}
    )

    assert answer.status_code == 404
    assert not Membership.objects.filter(organization=acme.organization, user=globex.member)


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["admin", "member"])
def test_only_owners_invite_a_forged_post_is_refused(acme, logged_in, who):
    client = logged_in(getattr(acme, who))

    page = client.get(f"/organization/{acme.organization.pk}").content.decode()
    forged = _invite(client, acme.organization, "dana", role="owner")

    assert "Invite a member" not in page and 'id="invitations"' not in page
    assert forged.status_code == 403
    assert not Invitation.objects.exists()


@pytest.mark.django_db
def test_inviting_an_unknown_name_answers_exactly_as_a_known_one(acme, logged_in):
    user_make("dana")
    owner = logged_in(acme.owner)

    answers = [
        _invite(owner, acme.organization, who)
        for who in ("dana", "nobody-at-all", "dana@example.com", "nobody@example.com")
    ]

    shapes = {(a.status_code, a["Location"], a.content, a.get("Content-Type")) for a in answers}
    assert len(shapes) == 1
    assert Invitation.objects.count() == 4
    page = owner.get(answers[0]["Location"]).content.decode()
    # the pending list shows what was typed, the same way for each
    for who in ("dana", "nobody-at-all", "dana@example.com", "nobody@example.com"):
        assert f"<td>{who}</td>" in page


@pytest.mark.django_db
def test_a_bad_address_is_a_clear_error_and_an_owner_revokes(acme, logged_in):
    owner = logged_in(acme.owner)

    bad = _invite(owner, acme.organization, "@")
    _invite(owner, acme.organization, "dana")
    invitation = Invitation.objects.get()
    revoked = owner.post(
        f"/organization/{acme.organization.pk}", {"action": "revoke", "invitation": invitation.pk}
    )

    assert bad.status_code == 200 and "not an email address" in bad.content.decode()
    assert revoked.status_code == 302
    assert not Invitation.objects.exists()
