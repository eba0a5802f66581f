"""Tenants for the dashboard's tests: acme (owner, admin, member, an app
with one ended two-party call with issues) and globex, another
organization whose users must see none of it."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from api.ingest.tests.fake_sdk import clock, page  # noqa: F401  (fixtures)
from api.query.tests.factories import Tenant, tenant_make
from api.rollups.services import rollups_rebuild


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Failed-login counters must not carry over from one test to the next.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def acme(db) -> Tenant:
    tenant = tenant_make("acme")
    # The factory writes rows directly, not through the lifecycle that
    # summarises ended calls: summarise them as rebuild_rollups would.
    rollups_rebuild(app_id=tenant.app.pk)
    return tenant


@pytest.fixture
def globex(db) -> Tenant:
    tenant = tenant_make("globex")
    rollups_rebuild(app_id=tenant.app.pk)
    return tenant


@pytest.fixture
def logged_in():
    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make
