"""api.env: the one reader of the environment, and what it refuses."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from api import env

ROOT = Path(env.BASE_DIR)
GOOD = {
    "DEBUG": "false",
    "SECRET_KEY": "k" * 50,
    "INIT_TOKEN_SECRET": "i" * 50,
    "SESSION_TOKEN_SECRET": "s" * 50,
}


@pytest.mark.parametrize("name", env.SECRETS)
@pytest.mark.parametrize("value", ["secret", "changeme", "supersecret", "", "   "])
def test_production_refuses_a_secret_set_to_a_known_default(name, value, tmp_path):
    environ = {**GOOD, "DATA_DIR": str(tmp_path), name: value}

    with pytest.raises(ImproperlyConfigured, match=name):
        env.load(environ)


@pytest.mark.parametrize("name", env.SECRETS)
def test_production_refuses_a_missing_secret_and_generates_none(name, tmp_path):
    environ = {k: v for k, v in {**GOOD, "DATA_DIR": str(tmp_path)}.items() if k != name}

    with pytest.raises(ImproperlyConfigured, match=name):
        env.load(environ)
    assert not list(tmp_path.iterdir())


def test_production_takes_long_random_secrets(tmp_path):
    config = env.load({**GOOD, "DATA_DIR": str(tmp_path)})

    assert (config.debug, config.secret_key, config.allowed_hosts) == (
        False,
        "k" * 50,
        ["localhost", "127.0.0.1"],
    )


def test_development_generates_secrets_that_survive_a_restart(tmp_path):
    first = env.load({"DATA_DIR": str(tmp_path)})
    second = env.load({"DATA_DIR": str(tmp_path)})

    assert first.debug is True
    assert len({first.secret_key, first.init_token_secret, first.session_token_secret}) == 3
    assert (second.secret_key, second.session_token_secret) == (
        first.secret_key,
        first.session_token_secret,
    )


def test_a_default_may_follow_from_an_earlier_variable(tmp_path):
    config = env.load({"DATA_DIR": str(tmp_path), "WEB_DOMAIN": "monitor.example.com"})

    assert config.cors_allowed_origins == [
        "https://monitor.example.com",
        "http://monitor.example.com",
    ]
    assert config.ingest_spool_dir == tmp_path / "spool"


def test_a_value_that_cannot_be_read_is_refused_by_name(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="CONN_MAX_AGE must be an integer"):
        env.load({"DATA_DIR": str(tmp_path), "CONN_MAX_AGE": "a minute"})
    with pytest.raises(ImproperlyConfigured, match="INGEST_SINK must be one of"):
        env.load({"DATA_DIR": str(tmp_path), "INGEST_SINK": "kafka"})


def test_the_queued_sink_needs_redis(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="REDIS_HOST"):
        env.load({"DATA_DIR": str(tmp_path), "INGEST_SINK": "queued"})


@pytest.mark.parametrize("document", ["README.md", ".env.example"])
def test_every_variable_is_documented(document):
    text = (ROOT / document).read_text()
    # The README names the DATABASE_* family in one row.
    missing = [
        v.name
        for v in env.variables()
        if v.name not in text and v.name.removeprefix("DATABASE_") not in text
    ]

    assert missing == []


@pytest.mark.parametrize("name", env.SECRETS)
def test_production_refuses_a_secret_shorter_than_32_characters(name, tmp_path):
    environ = {**GOOD, "DATA_DIR": str(tmp_path), name: "x" * 31}

    with pytest.raises(ImproperlyConfigured, match=name):
        env.load(environ)


def test_production_generates_missing_secrets_once_only_where_told(tmp_path):
    environ = {
        k: v for k, v in {**GOOD, "DATA_DIR": str(tmp_path)}.items() if k != "SESSION_TOKEN_SECRET"
    }
    environ["SECRETS_DIR"] = str(tmp_path / "secrets")

    first = env.load(environ).session_token_secret
    again = env.load(environ).session_token_secret

    assert first == again and len(first) >= 64
    kept = tmp_path / "secrets" / ".session_token_secret"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600


def test_a_generated_secret_never_replaces_a_given_weak_one(tmp_path):
    environ = {**GOOD, "SECRETS_DIR": str(tmp_path), "SECRET_KEY": "short"}

    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        env.load(environ)


def test_production_defaults_to_secure_cookies_json_logs_and_closed_metrics(tmp_path):
    config = env.load({**GOOD, "DATA_DIR": str(tmp_path)})

    assert config.secure_cookies is True
    assert config.log_format == "json"
    assert config.metrics_allowed_ips == []
    assert config.static_root == tmp_path / "static"


def test_development_reads_metrics_from_loopback_and_logs_text(tmp_path):
    config = env.load({"DATA_DIR": str(tmp_path)})

    assert (config.secure_cookies, config.log_format) == (False, "plain")
    assert config.metrics_allowed_ips == ["127.0.0.1", "::1"]


def test_a_short_metrics_token_is_refused_in_production(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="METRICS_TOKEN"):
        env.load({**GOOD, "DATA_DIR": str(tmp_path), "METRICS_TOKEN": "abc"})


def test_proxy_hops_cannot_be_negative(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="TRUSTED_PROXY_HOPS"):
        env.load({"DATA_DIR": str(tmp_path), "TRUSTED_PROXY_HOPS": "-1"})


def test_a_metrics_allow_list_entry_that_is_no_address_is_refused(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="prometheus.internal"):
        env.load(
            {"DATA_DIR": str(tmp_path), "METRICS_ALLOWED_IPS": "10.0.0.0/8, prometheus.internal"}
        )
