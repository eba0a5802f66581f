"""``manage.py quickstart``: the demo tenant of ``python3 dev.py serve``, and
the first admin and API key of a production install."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command

from api.tenancy.models import App, Membership, Organization, User

pytestmark = pytest.mark.django_db


def quickstart(*args: str) -> str:
    out = io.StringIO()
    call_command("quickstart", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def development(settings):
    settings.DEBUG = True


def test_quickstart_makes_an_admin_owning_a_demo_app_and_prints_its_api_key(development):
    printed = quickstart()

    app = App.objects.get()
    admin = User.objects.get()
    assert admin.username == "admin" and admin.is_superuser and admin.check_password("admin")
    assert Membership.objects.get().role == Membership.Role.OWNER
    assert app.organization == Organization.objects.get()
    assert f"API key       {app.api_key}" in printed
    assert "login: admin / admin" in printed


def test_the_first_run_prints_where_to_go_the_login_and_the_api_key(development):
    printed = quickstart("--url", "http://localhost:18200/")

    key = App.objects.get().api_key
    assert "Dashboard     http://localhost:18200/    login: admin / admin" in printed
    assert "Admin         http://localhost:18200/admin/    (the same login)" in printed
    assert "API docs      http://localhost:18200/v1/docs" in printed
    assert "apiRoot: 'http://localhost:18200/v1'" in printed
    assert key in printed


def test_quickstart_run_twice_finds_what_it_made_and_keeps_the_password(development):
    quickstart("--password", "s3cret-enough")
    again = quickstart()

    assert (User.objects.count(), Organization.objects.count(), App.objects.count()) == (1, 1, 1)
    assert User.objects.get().check_password("s3cret-enough")
    assert "login: admin / (unchanged)" in again


def test_quickstart_takes_a_given_api_key_for_the_new_app(development):
    quickstart("--api-key", "p" * 32)

    assert App.objects.get().api_key == "p" * 32


def test_in_production_a_new_admin_gets_a_random_password_never_admin(settings):
    settings.DEBUG = False

    printed = quickstart("--username", "ops")

    password = re.search(r"login: ops / (\S+)", printed).group(1)
    user = User.objects.get(username="ops")
    assert password != "admin" and len(password) >= 16
    assert user.check_password(password) and user.is_superuser
