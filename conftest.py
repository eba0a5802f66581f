"""Shared fixtures: a tenant with an app, and a client that speaks like the
SDK (JSON bodies sent as text/plain, token in the body)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.test import Client, RequestFactory
from django.utils.datastructures import CaseInsensitiveMapping

from api.ingest.tests.lane import production_application, wsgi_call
from api.tenancy.models import App, Organization

# The api key the captured SDK calls were made with.
CAPTURED_API_KEY = "0123456789abcdef0123456789abcdef"
# Recorded data lives in the repository (fixtures/), so a clone tests on its own.
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SDK_PAYLOADS = FIXTURES / "sdk-payloads"


class SdkResponse:
    def __init__(self, status: int, raw: bytes, headers: CaseInsensitiveMapping):
        self.status = status
        self.raw = raw
        self.headers = headers
        self.json: Any = orjson.loads(raw) if raw else None

    def __repr__(self) -> str:
        return f"<SdkResponse {self.status} {self.raw[:200]!r}>"


class SdkClient:
    """Posts bodies the way the browser SDK does, through the application
    the production server runs (``api.wsgi``: the SDK's lean lane and the
    bare stats lane included), built for this client. ``client`` gives the
    request's defaults (``REMOTE_ADDR``, say)."""

    def __init__(self, client: Client):
        self.client = client
        self._application: Callable | None = None

    def send(
        self,
        method: str,
        path: str,
        body: Any,
        *,
        content_type: str = "text/plain",
        origin: str | None = "http://127.0.0.1:18080",
        raw: bytes | None = None,
    ) -> SdkResponse:
        data = raw if raw is not None else json.dumps(body)
        headers: dict[str, Any] = {"HTTP_ORIGIN": origin} if origin else {}
        defaults: dict[str, Any] = self.client.defaults
        environ = (
            RequestFactory(**defaults).generic(method, path, data, content_type, **headers).environ
        )
        environ.setdefault("HTTP_HOST", environ["SERVER_NAME"])  # a browser always sends it
        if self._application is None:
            self._application = production_application()
        status, header_list, answer = wsgi_call(self._application, environ)
        return SdkResponse(int(status.split()[0]), answer, CaseInsensitiveMapping(header_list))

    def post(self, path: str, body: Any = None, **kwargs) -> SdkResponse:
        return self.send("POST", path, body, **kwargs)

    def put(self, path: str, body: Any = None, **kwargs) -> SdkResponse:
        return self.send("PUT", path, body, **kwargs)


def placeholders_replace(value, mapping: dict[str, str]):
    """A captured body with its recorded tokens and ids (placeholders, or the
    original server's ids) replaced by those this server answered."""
    if isinstance(value, str):
        return mapping.get(value, value)
    if isinstance(value, list):
        return [placeholders_replace(v, mapping) for v in value]
    if isinstance(value, dict):
        return {k: placeholders_replace(v, mapping) for k, v in value.items()}
    return value


@pytest.fixture
def sdk(client) -> SdkClient:
    return SdkClient(client)


@pytest.fixture
def organization(db) -> Organization:
    return Organization.objects.create(name="Acme")


@pytest.fixture
def app(organization) -> App:
    """The captured calls' app. It keeps addresses and names as sent (its
    privacy switches off), so that tests of storage compare with the SDK's
    bodies; the privacy defaults are tested on apps of their own
    (api/ingest/tests/test_privacy.py)."""
    return App.objects.create(
        organization=organization,
        name="Acme video",
        api_key=CAPTURED_API_KEY,
        interval=10000,
        address_privacy="keep",
        keep_user_names=True,
    )


@pytest.fixture
def captured_call():
    def load(name: str) -> dict:
        return json.loads((SDK_PAYLOADS / name).read_text())

    return load


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    skip_pg = pytest.mark.skip(reason="needs PostgreSQL (CI runs the suite on PostgreSQL too)")
    skip_redis = pytest.mark.skip(reason="needs Redis: set REDIS_HOST (CI's PostgreSQL pass does)")
    for item in items:
        if "postgres" in item.keywords and not settings.IS_POSTGRES:
            item.add_marker(skip_pg)
        if "redis" in item.keywords and not settings.CONFIG.redis_url:
            item.add_marker(skip_redis)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The default hasher is deliberately slow; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _limits_forgotten():
    """Rate-limit windows and login failures counted by one test are not
    the next one's: the whole suite calls from 127.0.0.1 within minutes."""
    yield
    from django.core.cache import cache

    if hasattr(cache, "delete_pattern"):  # Redis: only these keys, never the db
        cache.delete_pattern("rl:*")
        cache.delete_pattern("axes-*")
    else:
        cache.clear()


# ------------------------------------------------------- the suite's logs


class SuiteLog:
    """Every line the server's log handler would have written during the
    suite (same filter and formatter), and the secrets that must never be
    in one: the api key of every app created, the configured secrets."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.api_keys: set[str] = {CAPTURED_API_KEY}


SUITE_LOG = SuiteLog()


@pytest.fixture(scope="session", autouse=True)
def _suite_log_captured():
    import logging

    from django.db.models.signals import post_save

    from api.common.logs import PlainFormatter, RequestContextFilter

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            # A record that cannot be formatted is not written either.
            with contextlib.suppress(Exception):
                SUITE_LOG.lines.append(self.format(record))

    handler = Capture(level=logging.DEBUG)
    handler.addFilter(RequestContextFilter())
    handler.setFormatter(PlainFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)

    def key_seen(sender, instance, **kwargs) -> None:
        SUITE_LOG.api_keys.add(instance.api_key)

    post_save.connect(key_seen, sender=App, dispatch_uid="suite-log-api-keys")
    yield SUITE_LOG
    root.removeHandler(handler)
    post_save.disconnect(dispatch_uid="suite-log-api-keys", sender=App)
