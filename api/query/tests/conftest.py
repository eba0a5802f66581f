"""Fixtures for the query API: two tenants, and clients that call the API
as a given user (with an API token, or with a session cookie)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
from django.core.cache import cache
from django.test import Client

from api.query.tests.factories import Tenant, tenant_make
from api.tenancy import services
from api.tenancy.models import User


class ApiAnswer:
    def __init__(self, response):
        self.status = response.status_code
        # A streamed answer (the exports) is read whole here.
        self.raw = b"".join(response.streaming_content) if response.streaming else response.content
        self.headers = response.headers
        self.response = response
        try:
            self.json = orjson.loads(self.raw) if self.raw else None
        except orjson.JSONDecodeError:
            self.json = None

    @property
    def data(self) -> Any:
        return self.json["data"]

    def __repr__(self) -> str:
        return f"<ApiAnswer {self.status} {self.raw[:300]!r}>"


class ApiClient:
    """Calls the API like a script: JSON bodies, ``Authorization: Bearer``."""

    def __init__(self, user: User | None = None, *, client: Client | None = None):
        self.client = client or Client()
        self.headers: dict[str, str] = {}
        if user is not None:
            _, raw = services.api_token_create(user=user, name="tests")
            self.headers["HTTP_AUTHORIZATION"] = f"Bearer {raw}"

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> ApiAnswer:
        if params:
            path = f"{path}?{urlencode(params)}"
        kwargs: dict[str, Any] = dict(self.headers)
        if body is not None:
            kwargs["data"] = orjson.dumps(body)
            kwargs["content_type"] = "application/json"
        return ApiAnswer(self.client.generic(method.upper(), path, **kwargs))

    def get(self, path: str, **params: Any) -> ApiAnswer:
        return self.call("GET", path, **params)

    def post(self, path: str, body: Any = None, **params: Any) -> ApiAnswer:
        return self.call("POST", path, body, **params)

    def put(self, path: str, body: Any = None, **params: Any) -> ApiAnswer:
        return self.call("PUT", path, body, **params)

    def delete(self, path: str, **params: Any) -> ApiAnswer:
        return self.call("DELETE", path, **params)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The default hasher spends ~0.1 s per password on purpose; the tests
    # make a dozen users each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Failed-login counters must not carry over from one test to the next.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def acme(db) -> Tenant:
    return tenant_make("acme")


@pytest.fixture
def globex(db) -> Tenant:
    return tenant_make("globex")


@pytest.fixture
def as_user():
    """``as_user(user)``: a client authenticated with a fresh API token."""
    return lambda user: ApiClient(user)


@pytest.fixture
def anonymous() -> ApiClient:
    return ApiClient()
