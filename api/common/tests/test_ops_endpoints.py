"""/, /health, /ready and /metrics, and the request id every answer carries.
(The same endpoints with the database or Redis down: tests/test_ready.py.)"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from django.urls import reverse

TOKEN = "m" * 40


def test_the_home_page_links_to_the_admin_and_the_docs(client):
    answer = client.get("/")

    assert answer.status_code == 200
    assert reverse("home") == "/"
    html = answer.content.decode()
    assert 'href="/admin/"' in html and 'href="/v1/docs"' in html
    assert "http://testserver/v1" in html


@pytest.mark.django_db
def test_health_checks_the_database_with_one_statement(client, django_assert_num_queries):
    with django_assert_num_queries(1):
        answer = client.get("/health")

    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}


def test_health_refuses_other_methods_with_the_error_body(client):
    answer = client.post("/health")

    assert answer.status_code == 405
    assert answer.json()["error_code"] == "method_not_allowed"
    assert answer["Allow"] == "GET, HEAD"


@pytest.mark.django_db
def test_ready_checks_the_database_and_the_migrations(client, settings):
    settings.CONFIG = replace(settings.CONFIG, redis_host=None)

    answer = client.get("/ready")

    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "checks": {"database": "ok", "migrations": "ok"}}


def _wsgi_get(path: str, host: str) -> tuple[str, dict[str, str], bytes]:
    # /health reads the database: the request must leave the test's connection open.
    from api.ingest.tests.test_handler import wsgi

    return wsgi("GET", path, host=host)


@pytest.mark.django_db
def test_probes_answer_by_ip_address_whatever_allowed_hosts_says(settings):
    settings.ALLOWED_HOSTS = ["peermetrics.example.com"]

    status, _, body = _wsgi_get("/health", "10.1.2.3:8000")
    refused, _, _ = _wsgi_get("/admin/login/", "10.1.2.3:8000")

    assert status == "200 OK" and body == b'{"status":"ok"}'
    assert refused.startswith("400")


@pytest.fixture
def metrics_access(settings):
    def configure(*, token: str = "", ips: tuple[str, ...] = (), hops: int = 0) -> None:
        settings.CONFIG = replace(
            settings.CONFIG,
            metrics_token=token,
            metrics_allowed_ips=list(ips),
            trusted_proxy_hops=hops,
        )

    return configure


@pytest.mark.django_db
def test_metrics_are_refused_when_neither_a_token_nor_addresses_are_configured(
    client, metrics_access
):
    metrics_access()

    answer = client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything")

    assert answer.status_code == 403
    assert answer.json()["error_code"] == "permission_denied"


@pytest.mark.django_db
def test_metrics_need_the_right_bearer_token(client, metrics_access):
    metrics_access(token=TOKEN)

    good = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN[:-1]}x")
    missing = client.get("/metrics")

    assert good.status_code == 200
    assert good["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "pm_http_requests_total" in good.content.decode()
    assert (wrong.status_code, missing.status_code) == (403, 403)


@pytest.mark.django_db
def test_metrics_are_open_to_the_allowed_networks(client, metrics_access):
    metrics_access(ips=("10.0.0.0/8", "::1"))

    inside = client.get("/metrics", REMOTE_ADDR="10.20.30.40")
    outside = client.get("/metrics", REMOTE_ADDR="192.0.2.1")

    assert (inside.status_code, outside.status_code) == (200, 403)


@pytest.mark.django_db
def test_a_client_cannot_claim_an_allowed_address_in_x_forwarded_for(client, metrics_access):
    metrics_access(ips=("10.0.0.0/8",), hops=1)

    # The proxy appended the client's real address after what the client sent.
    spoofed = client.get(
        "/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.0.0.1, 192.0.2.1"
    )
    proxied = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.9.9.9")

    assert (spoofed.status_code, proxied.status_code) == (403, 200)


@pytest.mark.django_db
def test_every_answer_carries_a_fresh_request_id(client):
    first = client.get("/health")["X-Request-ID"]
    second = client.get("/health")["X-Request-ID"]

    assert re.fullmatch(r"[0-9a-f]{16,}", first) and first != second


@pytest.mark.django_db
def test_a_proxys_request_id_is_kept_only_behind_trusted_proxies(settings, client):
    settings.CONFIG = replace(settings.CONFIG, trusted_proxy_hops=1)

    answer = client.get("/health", HTTP_X_REQUEST_ID="0123456789abcdef0123456789abcdef")

    assert answer["X-Request-ID"] == "0123456789abcdef0123456789abcdef"


@pytest.mark.django_db
def test_a_clients_request_id_is_not_trusted(settings, client):
    settings.CONFIG = replace(settings.CONFIG, trusted_proxy_hops=0)

    answer = client.get("/health", HTTP_X_REQUEST_ID="0123456789abcdef0123456789abcdef")

    assert answer["X-Request-ID"] != "0123456789abcdef0123456789abcdef"
