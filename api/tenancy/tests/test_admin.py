from __future__ import annotations

from datetime import date

import pytest

from api.common.tests.admin_pages import admin_page_failures, change_url, changelist_url
from api.tenancy.models import ApiToken, App, AppUsageDay, Membership, Organization, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenant(admin_user, app):
    """An organization with an owner, an app with usage, and a token."""
    owner = User.objects.create(username="ada", email="ada@example.com")
    Membership.objects.create(user=owner, organization=app.organization, role="owner")
    Membership.objects.create(user=admin_user, organization=app.organization, role="admin")
    AppUsageDay.objects.create(app=app, day=date(2026, 11, 27), seconds=120)
    AppUsageDay.objects.create(app=app, day=date(2026, 11, 28), seconds=3600)
    ApiToken.objects.create(
        user=owner, name="ci", prefix="pm_ab12", token_hash="f" * 64, last_used_at=None
    )
    return app


@pytest.mark.parametrize("model", [User, Organization, Membership, App, AppUsageDay, ApiToken])
def test_every_tenancy_admin_page_answers(admin_client, tenant, model):
    # Given a tenant with a row of every tenancy model
    # When every list, filter, search and change page is visited
    failures = admin_page_failures(admin_client, model)

    # Then all answer 200
    assert failures == []


def test_an_app_page_shows_its_key_settings_organization_and_daily_usage(admin_client, tenant):
    # When the app's page is opened
    page = admin_client.get(change_url(tenant)).content.decode()

    # Then it shows the api key (not editable), the organization (picked with
    # an autocomplete), the usage per day with its total, and a link to the
    # app's conferences
    assert tenant.api_key in page
    assert 'name="api_key"' not in page
    assert f'<option value="{tenant.organization.pk}" selected>Acme</option>' in page
    assert "2026-11-28</td><td>3600</td><td>60.0" in page
    assert "3720 seconds in total" in page
    assert f"/admin/calls/conference/?app__id__exact={tenant.pk}" in page


def test_the_app_list_links_each_app_to_its_organization(admin_client, tenant):
    page = admin_client.get(changelist_url(App)).content.decode()

    assert change_url(tenant.organization) in page


def test_a_new_app_may_be_given_an_existing_api_key(admin_client, organization):
    # When an app is added with the key its SDKs already use
    response = admin_client.post(
        "/admin/tenancy/app/add/",
        {
            "name": "Migrated",
            "organization": organization.pk,
            "api_key": "fedcba9876543210fedcba9876543210",
            "domain": "",
            "interval": 10000,
            "recording": "on",
            "is_active": "on",
        },
    )

    # Then it is stored with that key
    assert response.status_code == 302, response.content.decode()[:2000]
    assert App.objects.get(name="Migrated").api_key == "fedcba9876543210fedcba9876543210"


def test_the_reset_action_gives_an_app_a_new_api_key(admin_client, tenant):
    # When the reset action runs on the app
    old_key = tenant.api_key
    response = admin_client.post(
        changelist_url(App), {"action": "reset_api_key", "_selected_action": [tenant.pk]}
    )

    # Then it has a new random key
    assert response.status_code == 302
    tenant.refresh_from_db()
    assert tenant.api_key != old_key and len(tenant.api_key) == 32


def test_a_user_is_added_and_their_password_changed_through_the_proper_forms(admin_client):
    # When a user is added with a password
    response = admin_client.post(
        "/admin/tenancy/user/add/",
        {
            "username": "grace",
            "usable_password": "true",
            "password1": "an unguessable phrase 42",
            "password2": "an unguessable phrase 42",
            # The membership inline's management form, as the browser sends it.
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    user = User.objects.get(username="grace")

    # Then the password is stored hashed, and the change-password form replaces it
    assert user.check_password("an unguessable phrase 42")
    assert "an unguessable phrase 42" not in user.password
    response = admin_client.post(
        f"/admin/tenancy/user/{user.pk}/password/",
        {
            "usable_password": "true",
            "password1": "another long phrase 77",
            "password2": "another long phrase 77",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    user.refresh_from_db()
    assert user.check_password("another long phrase 77")


def test_the_token_hash_is_never_shown_nor_editable(admin_client, tenant):
    # Given a token
    token = ApiToken.objects.get()

    # When its page is opened and a hash is posted with a revocation
    page = admin_client.get(change_url(token)).content.decode()
    response = admin_client.post(
        change_url(token),
        {
            "name": "ci",
            "token_hash": "0" * 64,
            "revoked_at_0": "2026-12-01",
            "revoked_at_1": "10:00",
        },
    )

    # Then the hash appears nowhere, the posted hash is ignored, and the token is revoked
    assert token.token_hash not in page and "token_hash" not in page
    assert response.status_code == 302, response.content.decode()[:2000]
    token.refresh_from_db()
    assert token.token_hash == "f" * 64
    assert token.revoked_at is not None


def test_tokens_and_usage_are_not_added_by_hand(admin_client, tenant):
    # Then the add pages are refused: tokens are issued with their secret
    # elsewhere, usage is written by the call lifecycle
    assert admin_client.get("/admin/tenancy/apitoken/add/").status_code == 403
    assert admin_client.get("/admin/tenancy/appusageday/add/").status_code == 403


def test_memberships_are_edited_on_the_organization_page_with_autocomplete(admin_client, tenant):
    # When the organization page is opened and the user autocomplete queried
    page = admin_client.get(change_url(tenant.organization)).content.decode()
    response = admin_client.get(
        "/admin/autocomplete/",
        {
            "app_label": "tenancy",
            "model_name": "membership",
            "field_name": "user",
            "term": "ad",
        },
    )

    # Then the members are listed with an autocomplete widget (not a select of
    # every user), and the autocomplete finds users by name
    assert "memberships-TOTAL_FORMS" in page
    assert "admin-autocomplete" in page
    assert response.status_code == 200
    assert {r["text"] for r in response.json()["results"]} >= {"ada", "admin"}
