"""The committed OpenAPI document is the code's, and the docs page works
offline."""

from __future__ import annotations

import json
import re

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client

from api.query.openapi import COMMITTED, openapi_document, openapi_text

REGENERATE = "python manage.py export_openapi --output docs/openapi.json"


def test_the_committed_schema_is_the_one_the_code_generates():
    committed = COMMITTED.read_text()

    assert json.loads(committed) == json.loads(openapi_text()), f"API changed: run `{REGENERATE}`"
    assert committed == openapi_text(), f"formatting differs: run `{REGENERATE}`"


def test_every_operation_but_login_and_its_csrf_token_requires_a_credential():
    document = openapi_document()
    schemes = set(document["components"]["securitySchemes"])

    anonymous = [
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if not operation.get("security")
    ]

    assert schemes == {"BearerToken", "SessionCookie"}
    assert sorted(anonymous) == ["GET /v1/auth/csrf", "POST /v1/auth/login"]


@pytest.mark.django_db
def test_the_served_schema_is_the_committed_one():
    response = Client().get("/v1/openapi.json")

    assert response.status_code == 200
    assert response.json() == json.loads(COMMITTED.read_text())


@pytest.mark.django_db
def test_the_docs_page_loads_its_assets_from_this_server_not_a_cdn():
    response = Client().get("/v1/docs")

    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    assert all(a.startswith("/") for a in assets), assets
    assert "/v1/openapi.json" in html
    # and every asset ships with the server (collectstatic / runserver find it)
    for asset in assets:
        assert finders.find(asset.removeprefix(settings.STATIC_URL)), asset
