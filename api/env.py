"""The only reader of ``os.environ``, and the one typed object every
setting is read through (``django.conf.settings.CONFIG``).

Each variable is one field of :class:`Config`: its name in the environment,
how its text is read, and its default (a value, or a function of the
fields declared before it). Adding a variable is adding a field here, and
a line in ``.env.example`` and the README's configuration table, which
``api/tests/test_env.py`` checks. :func:`load` reads them in order and
applies the rules that span several (secrets, the queued sink's Redis).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

# Values that must never sign anything in production: empty, the dev fallback and
# the defaults that peermetrics' compose file shipped with.
_UNSAFE_SECRETS = {
    "",
    "secret",
    "supersecret",
    "changeme",
    "your-secret-key-here",
    "your-init-token-secret",
    "your-session-token-secret",
}
SECRETS = ("SECRET_KEY", "INIT_TOKEN_SECRET", "SESSION_TOKEN_SECRET")
# Shorter secrets are refused when DEBUG is off: an HS256 key or a Django
# secret of a few characters can be guessed offline from one signed token.
MIN_SECRET_LENGTH = 32


# ------------------------------------------------------------ how text is read


def text(name: str, raw: str) -> str:
    return raw


def text_or_none(name: str, raw: str) -> str | None:
    return raw or None


def boolean(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def integer(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}") from exc


def number(name: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}") from exc


def comma_list(name: str, raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def path(name: str, raw: str) -> Path:
    return Path(raw)


def path_or_none(name: str, raw: str) -> Path | None:
    return Path(raw) if raw else None


def count(name: str, raw: str) -> int:
    value = integer(name, raw)
    if value < 0:
        raise ImproperlyConfigured(f"{name} must be 0 or more, not {value}")
    return value


def networks(name: str, raw: str) -> list[str]:
    """Comma-separated addresses or networks (``10.0.0.0/8``, ``::1``)."""
    entries = comma_list(name, raw)
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name}: {entry!r} is not an address or a network") from exc
    return entries


_RATE_RE = re.compile(r"^\d+/\d*[smhd]$")


def rate(name: str, raw: str) -> str | None:
    """A rate limit, ``N/period`` (``600/m``, ``20/5m``, ``1000/h``);
    empty or ``off`` for none."""
    value = raw.strip().lower()
    if value in {"", "off", "none"}:
        return None
    if not _RATE_RE.match(value):
        raise ImproperlyConfigured(f"{name} must look like 600/m or 20/5m (or off), not {raw!r}")
    return value


def one_of(*allowed: str) -> Callable[[str, str], str]:
    def read(name: str, raw: str) -> str:
        value = raw.strip().lower()
        if value not in allowed:
            raise ImproperlyConfigured(f"{name} must be one of {sorted(allowed)}, not {value!r}")
        return value

    return read


# ------------------------------------------------------------------ a field


@dataclass(frozen=True)
class Variable:
    name: str
    read: Callable[[str, str], Any]
    # A value, or a function of the fields read before (by field name).
    default: Any
    # An empty value counts as unset (the default applies).
    empty_is_unset: bool = True


def variable(
    name: str, read: Callable[[str, str], Any], default: Any, *, empty_is_unset: bool = True
) -> Any:
    """A field of :class:`Config` read from the environment variable ``name``."""
    return dataclasses.field(metadata={"variable": Variable(name, read, default, empty_is_unset)})


def _default_hosts(values: dict[str, Any]) -> list[str]:
    return ["*"] if values["debug"] else ["localhost", "127.0.0.1"]


def _default_origins(values: dict[str, Any]) -> list[str]:
    domain = values["web_domain"]
    return [f"https://{domain}", f"http://{domain}"] if domain else []


def _default_secrets_dir(values: dict[str, Any]) -> Path | None:
    # Development keeps its generated secrets in DATA_DIR; production
    # generates none unless told where (the compose file's volume).
    return values["data_dir"] if values["debug"] else None


@dataclass(frozen=True)
class Config:
    """Every setting the server takes from its environment (README,
    "Configuration", says what each does)."""

    data_dir: Path = variable("DATA_DIR", path, BASE_DIR / "data")
    debug: bool = variable("DEBUG", boolean, True, empty_is_unset=False)
    # Where secrets left unset are generated once and kept (None: required).
    secrets_dir: Path | None = variable("SECRETS_DIR", path_or_none, _default_secrets_dir)
    # Required when DEBUG is off unless SECRETS_DIR is set.
    secret_key: str = variable("SECRET_KEY", text, "")
    init_token_secret: str = variable("INIT_TOKEN_SECRET", text, "")
    session_token_secret: str = variable("SESSION_TOKEN_SECRET", text, "")
    init_token_lifespan: int = variable("INIT_TOKEN_LIFESPAN", integer, 86400)
    session_token_lifespan: int = variable("SESSION_TOKEN_LIFESPAN", integer, 86400)
    allowed_hosts: list[str] = variable(
        "ALLOWED_HOSTS", comma_list, _default_hosts, empty_is_unset=False
    )
    web_domain: str = variable("WEB_DOMAIN", text, "")
    database_url: str | None = variable("DATABASE_URL", text_or_none, None)
    database_host: str | None = variable("DATABASE_HOST", text_or_none, None)
    database_port: str = variable("DATABASE_PORT", text, "5432")
    database_user: str = variable("DATABASE_USER", text, "postgres")
    database_password: str = variable("DATABASE_PASSWORD", text, "")
    database_name: str = variable("DATABASE_NAME", text, "peermetrics")
    conn_max_age: int = variable("CONN_MAX_AGE", integer, 60)
    redis_host: str | None = variable("REDIS_HOST", text_or_none, None)
    post_conference_cleanup: bool = variable("POST_CONFERENCE_CLEANUP", boolean, False)
    conference_timeout_hours: float = variable("CONFERENCE_TIMEOUT_HOURS", number, 4.0)
    stats_interval_ms: int = variable("STATS_INTERVAL_MS", integer, 10000)
    max_body_bytes: int = variable("MAX_BODY_BYTES", integer, 1_048_576)
    import_max_bytes: int = variable("IMPORT_MAX_BYTES", integer, 50 * 1_048_576)
    webhook_allow_private_targets: bool = variable("WEBHOOK_ALLOW_PRIVATE_TARGETS", boolean, False)
    log_level: str = variable("LOG_LEVEL", lambda name, raw: raw.upper(), "INFO")
    cors_allowed_origins: list[str] = variable("CORS_ALLOWED_ORIGINS", comma_list, _default_origins)
    ingest_sink: str = variable("INGEST_SINK", one_of("direct", "queued"), "direct")
    stats_retention_days: int = variable("STATS_RETENTION_DAYS", integer, 30)
    ingest_stream: str = variable("INGEST_STREAM", text, "pm:stats")
    ingest_spool: bool = variable("INGEST_SPOOL", boolean, True, empty_is_unset=False)
    ingest_spool_dir: Path = variable(
        "INGEST_SPOOL_DIR", path, lambda values: values["data_dir"] / "spool"
    )
    ingest_spool_fsync_seconds: float = variable("INGEST_SPOOL_FSYNC_SECONDS", number, 1.0)
    ingest_spool_resend_seconds: float = variable("INGEST_SPOOL_RESEND_SECONDS", number, 60.0)
    # Overload control of /v1/stats (api.ingest.overload, docs/scaling.md).
    ingest_stats_concurrency: int = variable("INGEST_STATS_CONCURRENCY", count, 0)
    ingest_stats_queue: int = variable("INGEST_STATS_QUEUE", count, 12)
    ingest_stats_wait_ms: int = variable("INGEST_STATS_WAIT_MS", count, 0)
    ingest_stats_deadline_ms: int = variable("INGEST_STATS_DEADLINE_MS", count, 500)
    ingest_shed_max_factor: int = variable("INGEST_SHED_MAX_FACTOR", count, 16)
    ingest_backlog_max: int = variable("INGEST_BACKLOG_MAX", count, 50_000)
    ingest_backlog_max_age_seconds: float = variable("INGEST_BACKLOG_MAX_AGE_SECONDS", number, 3.0)
    # Where the detectors keep their state (api.quality.state).
    quality_state: str = variable("QUALITY_STATE", one_of("auto", "redis", "memory"), "auto")
    # Production behind a proxy (docs/deploy.md).
    static_root: Path = variable("STATIC_ROOT", path, lambda values: values["data_dir"] / "static")
    csrf_trusted_origins: list[str] = variable("CSRF_TRUSTED_ORIGINS", comma_list, [])
    secure_proxy_ssl_header: str = variable("SECURE_PROXY_SSL_HEADER", text, "")
    secure_ssl_redirect: bool = variable("SECURE_SSL_REDIRECT", boolean, False)
    secure_cookies: bool = variable("SECURE_COOKIES", boolean, lambda values: not values["debug"])
    secure_hsts_seconds: int = variable("SECURE_HSTS_SECONDS", integer, 0)
    secure_hsts_include_subdomains: bool = variable(
        "SECURE_HSTS_INCLUDE_SUBDOMAINS", boolean, False
    )
    secure_hsts_preload: bool = variable("SECURE_HSTS_PRELOAD", boolean, False)
    trusted_proxy_hops: int = variable("TRUSTED_PROXY_HOPS", count, 0)
    # Operations: who reads /metrics, where the processes keep their counts
    # (prometheus-client reads PROMETHEUS_MULTIPROC_DIR itself too), logs.
    metrics_token: str = variable("METRICS_TOKEN", text, "")
    metrics_allowed_ips: list[str] = variable(
        "METRICS_ALLOWED_IPS",
        networks,
        lambda values: ["127.0.0.1", "::1"] if values["debug"] else [],
        empty_is_unset=False,
    )
    metrics_dir: Path | None = variable("PROMETHEUS_MULTIPROC_DIR", path_or_none, None)
    log_format: str = variable(
        "LOG_FORMAT", one_of("plain", "json"), lambda values: "plain" if values["debug"] else "json"
    )
    log_requests: bool = variable("LOG_REQUESTS", boolean, False)
    # Abuse limits (docs/security.md): per client address and per app.
    rate_limit_initialize: str | None = variable(
        "RATE_LIMIT_INITIALIZE", rate, "600/m", empty_is_unset=False
    )
    rate_limit_initialize_app: str | None = variable(
        "RATE_LIMIT_INITIALIZE_APP", rate, "6000/m", empty_is_unset=False
    )
    rate_limit_login: str | None = variable("RATE_LIMIT_LOGIN", rate, "30/m", empty_is_unset=False)
    rate_limit_query: str | None = variable(
        "RATE_LIMIT_QUERY", rate, "2000/m", empty_is_unset=False
    )
    # Per-app budgets (api.ingest.budget): 0 for none.
    stats_budget_per_minute: int = variable("STATS_BUDGET_PER_MINUTE", count, 0)
    app_sessions_per_day: int = variable("APP_SESSIONS_PER_DAY", count, 0)
    # Failed logins that lock an account, and an address, out (django-axes).
    login_failure_limit: int = variable("LOGIN_FAILURE_LIMIT", count, 10)
    login_lockout_minutes: int = variable("LOGIN_LOCKOUT_MINUTES", count, 15)

    @property
    def redis_url(self) -> str | None:
        """``REDIS_HOST`` as a URL (a bare host means its port 6379, db 0)."""
        if not self.redis_host:
            return None
        if "://" in self.redis_host:
            return self.redis_host
        return f"redis://{self.redis_host}:6379/0"


def variables() -> list[Variable]:
    """The environment variables :func:`load` reads, in order."""
    return [field.metadata["variable"] for field in dataclasses.fields(Config)]


def _kept_secret(directory: Path, name: str) -> str:
    """A random secret generated once into ``directory`` and read from there
    afterwards, so tokens and sessions survive a restart. Processes that
    start together agree on one value: the file appears whole (a hard link
    of a written temporary file), and the first link wins."""
    directory.mkdir(parents=True, exist_ok=True)
    secret_file = directory / f".{name.lower()}"
    if not secret_file.exists():
        scratch = directory / f".{name.lower()}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(48))
        try:
            os.link(scratch, secret_file)
        except FileExistsError:
            pass  # another process was first: its value is the one
        finally:
            scratch.unlink()
    return secret_file.read_text().strip()


def load(environ: dict[str, str] | None = None) -> Config:
    """The configuration of ``environ`` (default: ``os.environ``). Raises
    ``ImproperlyConfigured`` for a value that cannot be read; while ``DEBUG``
    is off, for a secret shorter than 32 characters or set to a known
    default, or missing without ``SECRETS_DIR``, and for a short
    ``METRICS_TOKEN``; and for ``INGEST_SINK=queued`` without
    ``REDIS_HOST``."""
    source = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for field in dataclasses.fields(Config):
        spec: Variable = field.metadata["variable"]
        raw = source.get(spec.name)
        if raw is None or (spec.empty_is_unset and raw.strip() == ""):
            values[field.name] = spec.default(values) if callable(spec.default) else spec.default
        else:
            values[field.name] = spec.read(spec.name, raw)

    for name in SECRETS:
        values[name.lower()] = values[name.lower()].strip()
    if not values["debug"]:
        unsafe = [
            name
            for name in SECRETS
            if (values[name.lower()] or values["secrets_dir"] is None)
            and (
                values[name.lower()] in _UNSAFE_SECRETS
                or len(values[name.lower()]) < MIN_SECRET_LENGTH
            )
        ]
        if unsafe:
            raise ImproperlyConfigured(
                "DEBUG is off but these secrets are missing, shorter than "
                f"{MIN_SECRET_LENGTH} characters or set to a known default: "
                + ", ".join(unsafe)
                + ". Set each to a long random value (python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))'), or leave them unset and set "
                "SECRETS_DIR to have them generated once into that folder."
            )
        token = values["metrics_token"].strip()
        if token and len(token) < MIN_SECRET_LENGTH:
            raise ImproperlyConfigured(
                f"METRICS_TOKEN is shorter than {MIN_SECRET_LENGTH} characters; "
                "leave it empty or set a long random value."
            )
    for name in SECRETS:
        if not values[name.lower()]:
            values[name.lower()] = _kept_secret(values["secrets_dir"], name)

    if values["quality_state"] == "redis" and not values["redis_host"]:
        raise ImproperlyConfigured("QUALITY_STATE=redis needs REDIS_HOST")
    if values["ingest_sink"] == "queued" and not values["redis_host"]:
        raise ImproperlyConfigured(
            "INGEST_SINK=queued needs REDIS_HOST (the queue is a Redis stream)"
        )
    return Config(**values)
