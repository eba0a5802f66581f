"""A tenant with an app, and clients of the query API for its members."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from api.ingest.tests.fake_sdk import clock, page  # noqa: F401  (fixtures)
from api.query.tests.conftest import ApiAnswer, ApiClient
from api.query.tests.factories import member_make
from api.tenancy.models import App, Organization, User
from conftest import FIXTURES

DUMPS: Path = FIXTURES / "dumps"


@dataclass
class Tenant:
    organization: Organization
    app: App
    owner: User
    member: User


@pytest.fixture
def tenant(db) -> Tenant:
    organization = Organization.objects.create(name="Acme")
    app = App.objects.create(organization=organization, name="Acme video", interval=10000)
    return Tenant(
        organization=organization,
        app=app,
        owner=member_make(organization, "owner"),
        member=member_make(organization, "member"),
    )


@pytest.fixture
def owner(tenant) -> ApiClient:
    return ApiClient(tenant.owner)


def upload(client: ApiClient, app_id, name: str, raw: bytes) -> ApiAnswer:
    """``POST /v1/apps/{app_id}/imports`` with the file as a multipart upload."""
    http: Any = client.client
    response = http.post(
        f"/v1/apps/{app_id}/imports",
        {"file": SimpleUploadedFile(name, raw, content_type="application/octet-stream")},
        **client.headers,
    )
    return ApiAnswer(response)
