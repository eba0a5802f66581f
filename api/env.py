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
import os
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
_UNSAFE_SECRETS = {"", "secret", "supersecret", "changeme", "your-secret-key-here"}
SECRETS = ("SECRET_KEY", "INIT_TOKEN_SECRET", "SESSION_TOKEN_SECRET")


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


@dataclass(frozen=True)
class Config:
    """Every setting the server takes from its environment (README,
    "Configuration", says what each does)."""

    data_dir: Path = variable("DATA_DIR", path, BASE_DIR / "data")
    debug: bool = variable("DEBUG", boolean, True, empty_is_unset=False)
    # Required when DEBUG is off; in development generated into DATA_DIR.
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


def _dev_secret(data_dir: Path, name: str) -> str:
    """A random secret kept in the data folder, so a development server's
    tokens and sessions survive a restart."""
    data_dir.mkdir(parents=True, exist_ok=True)
    secret_file = data_dir / f".{name.lower()}"
    if secret_file.exists():
        return secret_file.read_text().strip()
    value = secrets.token_urlsafe(48)
    secret_file.write_text(value)
    secret_file.chmod(0o600)
    return value


def load(environ: dict[str, str] | None = None) -> Config:
    """The configuration of ``environ`` (default: ``os.environ``). Raises
    ``ImproperlyConfigured`` for a value that cannot be read, for secrets
    missing or set to a known default while ``DEBUG`` is off, and for
    ``INGEST_SINK=queued`` without ``REDIS_HOST``."""
    source = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for field in dataclasses.fields(Config):
        spec: Variable = field.metadata["variable"]
        raw = source.get(spec.name)
        if raw is None or (spec.empty_is_unset and raw.strip() == ""):
            values[field.name] = spec.default(values) if callable(spec.default) else spec.default
        else:
            values[field.name] = spec.read(spec.name, raw)

    if not values["debug"]:
        unsafe = [name for name in SECRETS if values[name.lower()].strip() in _UNSAFE_SECRETS]
        if unsafe:
            raise ImproperlyConfigured(
                "DEBUG is off but these secrets are missing or set to a known default: "
                + ", ".join(unsafe)
                + ". Set each to a long random value (python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))')."
            )
    for name in SECRETS:
        if not values[name.lower()]:
            values[name.lower()] = _dev_secret(values["data_dir"], name)

    if values["ingest_sink"] == "queued" and not values["redis_host"]:
        raise ImproperlyConfigured(
            "INGEST_SINK=queued needs REDIS_HOST (the queue is a Redis stream)"
        )
    return Config(**values)
