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
def test_an_owner_adds_an_existing_user_by_username_or_email(acme):
    owner = ApiClient(acme.owner)
    carol = user_make("carol")
    dave = user_make("dave")

    by_name = owner.post(
        f"/v1/organizations/{acme.organization.pk}/members", {"username": "carol", "role": "admin"}
    )
    by_email = owner.post(
        f"/v1/organizations/{acme.organization.pk}/members", {"email": "DAVE@example.com"}
    )

    assert by_name.status == 201, by_name
    assert by_name.data == {
        "user": str(carol.pk),
        "username": "carol",
        "email": "carol@example.com",
        "role": "admin",
        "created_at": by_name.data["created_at"],
    }
    assert by_email.data["user"] == str(dave.pk) and by_email.data["role"] == "member"
    members = owner.get(f"/v1/organizations/{acme.organization.pk}/members").data
    assert [m["username"] for m in members] == [
        "acme-owner",
        "acme-admin",
        "acme-member",
        "carol",
        "dave",
    ]
    # carol now sees acme's apps
    assert [a["name"] for a in ApiClient(carol).get("/v1/apps").data] == ["acme app"]


@pytest.mark.django_db
def test_adding_an_unknown_user_or_a_member_twice_is_refused(acme):
    owner = ApiClient(acme.owner)
    path = f"/v1/organizations/{acme.organization.pk}/members"

    unknown = owner.post(path, {"username": "nobody"})
    twice = owner.post(path, {"username": "acme-member"})
    neither = owner.post(path, {"role": "admin"})

    assert (unknown.status, unknown.json["error_code"]) == (404, "user_not_found")
    assert (twice.status, twice.json["error_code"]) == (400, "user_already_member")
    assert (neither.status, neither.json["error_code"]) == (400, "missing_parameters")


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
