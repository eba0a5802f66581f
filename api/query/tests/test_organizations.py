"""Organizations and memberships: members read, owners manage."""

from __future__ import annotations

import pytest

from api.query.tests.conftest import ApiClient
from api.query.tests.factories import user_make
from api.tenancy.models import App, Membership, Organization


@pytest.mark.django_db
def test_organizations_lists_the_callers_organizations_with_their_role(acme, globex):
    # given the acme member is also an admin at globex
    Membership.objects.create(
        user=acme.member, organization=globex.organization, role=Membership.Role.ADMIN
    )

    answer = ApiClient(acme.member).get("/v1/organizations")

    # the original answered this route with a 500
    assert answer.status == 200, answer
    assert [(o["name"], o["role"]) for o in answer.data] == [
        ("acme org", "member"),
        ("globex org", "admin"),
    ]
    assert set(answer.data[0]) == {"id", "name", "created_at", "role"}
    assert answer.data[0]["created_at"].endswith("Z")


@pytest.mark.django_db
def test_any_user_creates_an_organization_and_owns_it(db):
    user = user_make()
    client = ApiClient(user)

    created = client.post("/v1/organizations", {"name": "  Initech  "})

    assert created.status == 201, created
    assert created.data["name"] == "Initech"
    assert created.data["role"] == "owner"
    assert Membership.objects.get(user=user).role == "owner"
    # unlike the original, not only one organization per installation
    assert client.post("/v1/organizations", {"name": "Second"}).status == 201


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{"name": ""}, {"name": "   "}, {}, {"name": 3}])
def test_an_organization_needs_a_name(db, body):
    answer = ApiClient(user_make()).post("/v1/organizations", body)

    assert answer.status == 400
    assert answer.json["error_code"] in {"missing_parameters", "invalid_parameters"}
    assert not Organization.objects.exists()


@pytest.mark.django_db
def test_only_an_owner_renames_the_organization(acme):
    path = f"/v1/organizations/{acme.organization.pk}"

    by_admin = ApiClient(acme.admin).put(path, {"name": "Admin's name"})
    by_owner = ApiClient(acme.owner).put(path, {"name": "Acme Corporation"})

    assert by_admin.status == 403
    assert by_owner.status == 200
    assert by_owner.data["name"] == "Acme Corporation"
    acme.organization.refresh_from_db()
    assert acme.organization.name == "Acme Corporation"


@pytest.mark.django_db
def test_deleting_an_organization_hides_it_its_apps_and_their_calls(acme, sdk):
    owner = ApiClient(acme.owner)

    answer = owner.delete(f"/v1/organizations/{acme.organization.pk}")

    assert answer.status == 200 and answer.json == ""
    assert owner.get("/v1/organizations").data == []
    assert owner.get(f"/v1/apps/{acme.app.pk}").status == 404
    assert owner.get(f"/v1/conferences/{acme.conference.pk}").status == 404
    # and its app's SDK is refused (the original left the apps active)
    refused = sdk.post(
        "/v1/initialize", {"apiKey": acme.app.api_key, "conferenceId": "c", "userId": "u"}
    )
    assert refused.status == 400
    assert refused.json["error_code"] == "invalid_api_key"


@pytest.mark.django_db
def test_an_owner_invites_by_username_or_email_and_the_user_accepts(acme):
    owner = ApiClient(acme.owner)
    carol = user_make("carol")
    dave = user_make("dave")
    base = f"/v1/organizations/{acme.organization.pk}/invitations"

    # when the owner invites carol by username and dave by email
    by_name = owner.post(base, {"username": "carol", "role": "admin"})
    by_email = owner.post(base, {"email": "DAVE@example.com"})

    # then nobody is a member yet
    assert by_name.status == 201, by_name
    assert by_name.data["role"] == "admin" and by_name.data["username"] == "carol"
    assert ApiClient(carol).get("/v1/apps").data == []
    assert [i["id"] for i in owner.get(base).data] == [by_name.data["id"], by_email.data["id"]]

    # when each sees the invitation addressed to them and accepts it
    carols = ApiClient(carol).get("/v1/invitations").data
    assert [(i["id"], i["organization_name"]) for i in carols] == [(by_name.data["id"], "acme org")]
    accepted = ApiClient(carol).post(f"/v1/invitations/{by_name.data['id']}/accept")
    daves = ApiClient(dave).get("/v1/invitations").data
    assert [i["id"] for i in daves] == [by_email.data["id"]]
    assert ApiClient(dave).post(f"/v1/invitations/{by_email.data['id']}/accept").status == 201

    # then they are members with the invited roles
    assert accepted.status == 201, accepted
    assert accepted.data == {
        "user": str(carol.pk),
        "username": "carol",
        "email": "carol@example.com",
        "role": "admin",
        "created_at": accepted.data["created_at"],
    }
    members = owner.get(f"/v1/organizations/{acme.organization.pk}/members").data
    assert [(m["username"], m["role"]) for m in members][-2:] == [
        ("carol", "admin"),
        ("dave", "member"),
    ]
    assert [a["name"] for a in ApiClient(carol).get("/v1/apps").data] == ["acme app"]
    # and the invitations are used up
    assert owner.get(base).data == []
    again = ApiClient(carol).post(f"/v1/invitations/{by_name.data['id']}/accept")
    assert again.status == 404


@pytest.mark.django_db
def test_an_invitation_answer_never_tells_whether_the_user_exists(acme):
    owner = ApiClient(acme.owner)
    user_make("carol")
    base = f"/v1/organizations/{acme.organization.pk}/invitations"

    def shape(answer):
        data = dict(answer.data)
        for varying in ("id", "created_at", "expires_at", "username", "email"):
            data.pop(varying)
        return answer.status, sorted(answer.json), data

    existing = owner.post(base, {"username": "carol"})
    unknown = owner.post(base, {"username": "nobody-at-all"})
    existing_mail = owner.post(base, {"email": "carol@example.com"})
    unknown_mail = owner.post(base, {"email": "nobody@example.com"})

    assert shape(existing) == shape(unknown) == shape(existing_mail) == shape(unknown_mail)
    assert existing.status == 201
    assert b"user_not_found" not in existing.raw + unknown.raw
    # and the catalogue's user_not_found is answered by no route any more
    assert owner.post(f"/v1/organizations/{acme.organization.pk}/members", {}).status == 405


@pytest.mark.django_db
def test_only_the_addressee_can_accept_and_only_owners_invite(acme, globex):
    owner = ApiClient(acme.owner)
    carol = user_make("carol")
    invitation = owner.post(
        f"/v1/organizations/{acme.organization.pk}/invitations", {"username": "carol"}
    ).data

    # someone else cannot accept it (it looks like no invitation)
    stolen = ApiClient(globex.owner).post(f"/v1/invitations/{invitation['id']}/accept")
    assert (stolen.status, stolen.json["error_code"]) == (404, "not_found")
    assert ApiClient(globex.owner).get("/v1/invitations").data == []
    # a plain member cannot invite
    member = ApiClient(acme.member).post(
        f"/v1/organizations/{acme.organization.pk}/invitations", {"username": "x"}
    )
    assert member.status == 403
    # carol declines: it is gone
    assert ApiClient(carol).post(f"/v1/invitations/{invitation['id']}/decline").status == 200
    assert ApiClient(carol).post(f"/v1/invitations/{invitation['id']}/accept").status == 404


@pytest.mark.django_db
def test_an_invitation_needs_a_username_or_an_email_and_a_member_cannot_join_twice(acme):
    owner = ApiClient(acme.owner)
    base = f"/v1/organizations/{acme.organization.pk}/invitations"

    neither = owner.post(base, {"role": "admin"})
    twice = owner.post(base, {"username": "acme-member"})
    accepted_twice = ApiClient(acme.member).post(f"/v1/invitations/{twice.data['id']}/accept")

    assert (neither.status, neither.json["error_code"]) == (400, "missing_parameters")
    assert (accepted_twice.status, accepted_twice.json["error_code"]) == (
        400,
        "user_already_member",
    )


@pytest.mark.django_db
def test_an_owner_withdraws_an_invitation(acme):
    owner = ApiClient(acme.owner)
    carol = user_make("carol")
    base = f"/v1/organizations/{acme.organization.pk}/invitations"
    invitation = owner.post(base, {"username": "carol"}).data

    assert owner.delete(f"{base}/{invitation['id']}").status == 200

    assert ApiClient(carol).get("/v1/invitations").data == []


@pytest.mark.django_db
def test_an_owner_changes_roles_but_never_leaves_the_organization_without_an_owner(acme):
    owner = ApiClient(acme.owner)
    base = f"/v1/organizations/{acme.organization.pk}/members"

    demote_self = owner.put(f"{base}/{acme.owner.pk}", {"role": "admin"})
    remove_self = owner.delete(f"{base}/{acme.owner.pk}")
    promote = owner.put(f"{base}/{acme.admin.pk}", {"role": "owner"})
    then_demote_self = owner.put(f"{base}/{acme.owner.pk}", {"role": "member"})

    assert (demote_self.status, demote_self.json["error_code"]) == (400, "last_owner")
    assert (remove_self.status, remove_self.json["error_code"]) == (400, "last_owner")
    assert promote.status == 200 and promote.data["role"] == "owner"
    assert then_demote_self.status == 200 and then_demote_self.data["role"] == "member"
    # the former owner can no longer manage members
    assert owner.delete(f"{base}/{acme.admin.pk}").status == 403


@pytest.mark.django_db
def test_an_invalid_role_is_refused(acme):
    answer = ApiClient(acme.owner).put(
        f"/v1/organizations/{acme.organization.pk}/members/{acme.member.pk}", {"role": "god"}
    )

    assert answer.status == 400
    assert answer.json["error_code"] == "invalid_parameters"


@pytest.mark.django_db
def test_a_member_may_leave_and_then_sees_nothing(acme):
    member = ApiClient(acme.member)

    left = member.delete(f"/v1/organizations/{acme.organization.pk}/members/{acme.member.pk}")

    assert left.status == 200
    assert member.get("/v1/apps").data == []
    assert member.get(f"/v1/conferences/{acme.conference.pk}").status == 404


@pytest.mark.django_db
def test_an_owner_removes_a_member(acme):
    answer = ApiClient(acme.owner).delete(
        f"/v1/organizations/{acme.organization.pk}/members/{acme.admin.pk}"
    )

    assert answer.status == 200
    assert not Membership.objects.filter(user=acme.admin).exists()


@pytest.mark.django_db
def test_a_member_of_another_organization_is_not_found_there(acme, globex):
    answer = ApiClient(acme.owner).put(
        f"/v1/organizations/{acme.organization.pk}/members/{globex.member.pk}", {"role": "admin"}
    )

    assert answer.status == 404
    assert App.objects.count() == 2
