"""api/env.py: what the server refuses to start with, and the defaults."""

from __future__ import annotations

import stat

import pytest
from django.core.exceptions import ImproperlyConfigured

from api import env

SECRETS = ("SECRET_KEY", "INIT_TOKEN_SECRET", "SESSION_TOKEN_SECRET")
STRONG = "k" * 20 + "0123456789abcdef0123456789"


@pytest.fixture
def production(monkeypatch, tmp_path):
    """DEBUG off, strong secrets, nothing else set."""
    for name in (*SECRETS, "SECRETS_DIR", "METRICS_TOKEN", "TRUSTED_PROXY_HOPS", "LOG_FORMAT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEBUG", "false")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    for name in SECRETS:
        monkeypatch.setenv(name, STRONG)
    return monkeypatch


def test_production_starts_with_strong_secrets(production):
    config = env.load()

    assert config.debug is False
    assert config.secret_key == STRONG
    assert config.secure_cookies is True
    assert config.log_format == "json"
    assert config.metrics_allowed_ips == []


@pytest.mark.parametrize("value", ["x" * 31, "secret", "changeme", "your-secret-key-here", ""])
def test_production_refuses_a_short_or_known_secret(production, value):
    production.setenv("INIT_TOKEN_SECRET", value)

    with pytest.raises(ImproperlyConfigured, match="INIT_TOKEN_SECRET"):
        env.load()


def test_production_refuses_a_missing_secret_unless_it_may_generate_it(production, tmp_path):
    production.delenv("SESSION_TOKEN_SECRET")
    with pytest.raises(ImproperlyConfigured, match="SESSION_TOKEN_SECRET"):
        env.load()

    production.setenv("SECRETS_DIR", str(tmp_path / "secrets"))
    first = env.load().session_token_secret
    again = env.load().session_token_secret

    assert first == again and len(first) >= 64
    kept = tmp_path / "secrets" / ".session_token_secret"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600


def test_a_generated_secret_never_replaces_a_given_weak_one(production, tmp_path):
    production.setenv("SECRETS_DIR", str(tmp_path / "secrets"))
    production.setenv("SECRET_KEY", "short")

    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        env.load()


def test_development_keeps_its_generated_secrets_in_the_data_folder(monkeypatch, tmp_path):
    for name in (*SECRETS, "SECRETS_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEBUG", "true")
    monkeypatch.setenv("DATA_DIR", str(tmp_path))

    config = env.load()

    assert (tmp_path / ".secret_key").read_text() == config.secret_key
    assert config.log_format == "plain"
    assert config.metrics_allowed_ips == ["127.0.0.1", "::1"]


def test_a_short_metrics_token_is_refused_in_production(production):
    production.setenv("METRICS_TOKEN", "abc")

    with pytest.raises(ImproperlyConfigured, match="METRICS_TOKEN"):
        env.load()


def test_proxy_hops_cannot_be_negative(production):
    production.setenv("TRUSTED_PROXY_HOPS", "-1")

    with pytest.raises(ImproperlyConfigured, match="TRUSTED_PROXY_HOPS"):
        env.load()


def test_a_metrics_allow_list_entry_that_is_no_address_is_refused(production):
    production.setenv("METRICS_ALLOWED_IPS", "10.0.0.0/8, prometheus.internal")

    with pytest.raises(ImproperlyConfigured, match="prometheus.internal"):
        env.load()
