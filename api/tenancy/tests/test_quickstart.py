from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command

from api.tenancy.models import App, User


def _quickstart(*args: str) -> str:
    out = io.StringIO()
    call_command("quickstart", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_the_first_run_prints_where_to_go_the_login_and_the_api_key(settings):
    settings.DEBUG = True

    printed = _quickstart("--url", "http://localhost:18200/")

    key = App.objects.get().api_key
    assert "Open          http://localhost:18200/" in printed
    assert "http://localhost:18200/admin/    login: admin / admin" in printed
    assert "API docs      http://localhost:18200/v1/docs" in printed
    assert f"API key       {key}" in printed
    assert "apiRoot: 'http://localhost:18200/v1'" in printed


@pytest.mark.django_db
def test_a_second_run_finds_what_the_first_made(settings):
    settings.DEBUG = True
    _quickstart()

    printed = _quickstart()

    assert App.objects.count() == 1 and User.objects.count() == 1
    assert "login: admin / (unchanged)" in printed


@pytest.mark.django_db
def test_in_production_a_new_admin_gets_a_random_password_never_admin(settings):
    settings.DEBUG = False

    printed = _quickstart("--username", "ops")

    password = re.search(r"login: ops / (\S+)", printed).group(1)
    user = User.objects.get(username="ops")
    assert password != "admin" and len(password) >= 16
    assert user.check_password(password) and user.is_superuser
