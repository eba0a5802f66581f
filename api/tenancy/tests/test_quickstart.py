"""``manage.py quickstart``: the demo tenant of ``python3 dev.py serve``."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from api.tenancy.models import App, Membership, Organization, User

pytestmark = pytest.mark.django_db


def quickstart(*args: str) -> str:
    out = io.StringIO()
    call_command("quickstart", *args, stdout=out)
    return out.getvalue()


def test_quickstart_makes_an_admin_owning_a_demo_app_and_prints_its_api_key():
    printed = quickstart()

    app = App.objects.get()
    admin = User.objects.get()
    assert admin.username == "admin" and admin.is_superuser and admin.check_password("admin")
    assert Membership.objects.get().role == Membership.Role.OWNER
    assert app.organization == Organization.objects.get()
    assert f"API key:      {app.api_key}" in printed
    assert "Admin login:  admin / admin" in printed


def test_quickstart_run_twice_finds_what_it_made_and_keeps_the_password():
    quickstart("--password", "s3cret-enough")
    again = quickstart()

    assert (User.objects.count(), Organization.objects.count(), App.objects.count()) == (1, 1, 1)
    assert User.objects.get().check_password("s3cret-enough")
    assert "Admin login:  admin / (unchanged)" in again


def test_quickstart_takes_a_given_api_key_for_the_new_app():
    quickstart("--api-key", "p" * 32)

    assert App.objects.get().api_key == "p" * 32
