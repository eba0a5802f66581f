"""The only reader of ``os.environ``.

Every setting the server takes from its environment is read here, with its
default, so that ``settings.py`` stays declarative and the README and
``.env.example`` can list exactly what this module reads.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

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
# Shorter secrets are refused when DEBUG is off: an HS256 key or a Django
# secret of a few characters can be guessed offline from one signed token.
_MIN_SECRET_LENGTH = 32


def _get(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None else value


def _bool(name: str, default: bool) -> bool:
    raw = _get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def _int(name: str, default: int) -> int:
    raw = _get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}") from exc


def _float(name: str, default: float) -> float:
    raw = _get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}") from exc


def _list(name: str, default: list[str]) -> list[str]:
    raw = _get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def _path(name: str, default: Path) -> Path:
    raw = _get(name)
    return Path(raw) if raw else default


def _choice(name: str, default: str, allowed: set[str]) -> str:
    value = (_get(name) or default).strip().lower()
    if value not in allowed:
        raise ImproperlyConfigured(f"{name} must be one of {sorted(allowed)}, not {value!r}")
    return value


def _kept_secret(directory: Path, name: str) -> str:
    """A random secret generated once into ``directory`` and read from there
    afterwards, so tokens and sessions survive a restart. Processes that
    start together agree on one value: the file appears whole (a hard link
    of a written temporary file), and the first link wins."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f".{name.lower()}"
    if not path.exists():
        scratch = directory / f".{name.lower()}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(48))
        try:
            os.link(scratch, path)
        except FileExistsError:
            pass  # another process was first: its value is the one
        finally:
            scratch.unlink()
    return path.read_text().strip()


@dataclass(frozen=True)
class Config:
    debug: bool
    secret_key: str
    init_token_secret: str
    session_token_secret: str
    init_token_lifespan: int
    session_token_lifespan: int
    allowed_hosts: list[str]
    web_domain: str
    database_url: str | None
    database_host: str | None
    database_port: str
    database_user: str
    database_password: str
    database_name: str
    conn_max_age: int
    redis_host: str | None
    data_dir: Path
    post_conference_cleanup: bool
    conference_timeout_hours: float
    stats_interval_ms: int
    max_body_bytes: int
    log_level: str
    cors_allowed_origins: list[str]
    ingest_sink: str
    stats_retention_days: int
    ingest_stream: str
    ingest_spool: bool
    ingest_spool_dir: Path
    ingest_spool_fsync_seconds: float
    static_root: Path
    csrf_trusted_origins: list[str]
    secure_proxy_ssl_header: str
    secure_ssl_redirect: bool
    secure_cookies: bool
    secure_hsts_seconds: int
    secure_hsts_include_subdomains: bool
    secure_hsts_preload: bool
    trusted_proxy_hops: int
    metrics_token: str
    metrics_allowed_ips: list[str]
    metrics_dir: Path | None
    log_format: str
    log_requests: bool


def load() -> Config:
    data_dir = Path(_get("DATA_DIR") or (BASE_DIR / "data"))
    debug = _bool("DEBUG", True)

    # Secrets not given are generated once and kept in SECRETS_DIR: always
    # in development (in DATA_DIR), in production only where SECRETS_DIR is
    # set (the compose file's shared volume). Given ones must be strong.
    kept_in = _get("SECRETS_DIR")
    secrets_dir = Path(kept_in) if kept_in else (data_dir if debug else None)
    secrets_in_env = {
        name: (_get(name) or "").strip()
        for name in ("SECRET_KEY", "INIT_TOKEN_SECRET", "SESSION_TOKEN_SECRET")
    }
    if not debug:
        unsafe = [
            n
            for n, v in secrets_in_env.items()
            if (v or secrets_dir is None) and (v in _UNSAFE_SECRETS or len(v) < _MIN_SECRET_LENGTH)
        ]
        if unsafe:
            raise ImproperlyConfigured(
                "DEBUG is off but these secrets are missing, shorter than "
                f"{_MIN_SECRET_LENGTH} characters or set to a known default: "
                + ", ".join(unsafe)
                + ". Set each to a long random value (python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))'), or leave them unset and set "
                "SECRETS_DIR to have them generated once into that folder."
            )
    metrics_token = (_get("METRICS_TOKEN", "") or "").strip()
    if not debug and metrics_token and len(metrics_token) < _MIN_SECRET_LENGTH:
        raise ImproperlyConfigured(
            f"METRICS_TOKEN is shorter than {_MIN_SECRET_LENGTH} characters; "
            "leave it empty or set a long random value."
        )
    resolved = {}
    for name, value in secrets_in_env.items():
        if not value:
            assert secrets_dir is not None  # refused above otherwise
            value = _kept_secret(secrets_dir, name)
        resolved[name] = value

    web_domain = _get("WEB_DOMAIN", "") or ""
    default_hosts = ["*"] if debug else ["localhost", "127.0.0.1"]
    cors_origins = _list("CORS_ALLOWED_ORIGINS", [])
    if web_domain and not cors_origins:
        cors_origins = [f"https://{web_domain}", f"http://{web_domain}"]

    ingest_sink = _choice("INGEST_SINK", "direct", {"direct", "queued"})
    if ingest_sink == "queued" and not _get("REDIS_HOST"):
        raise ImproperlyConfigured(
            "INGEST_SINK=queued needs REDIS_HOST (the queue is a Redis stream)"
        )

    proxy_hops = _int("TRUSTED_PROXY_HOPS", 0)
    if proxy_hops < 0:
        raise ImproperlyConfigured(f"TRUSTED_PROXY_HOPS must be 0 or more, not {proxy_hops}")
    metrics_allowed_ips = _list("METRICS_ALLOWED_IPS", ["127.0.0.1", "::1"] if debug else [])
    for entry in metrics_allowed_ips:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"METRICS_ALLOWED_IPS: {entry!r} is not an address or a network"
            ) from exc
    # The library reads this variable itself; it is read here too so that the
    # /metrics view knows where to collect from, and it is checked early.
    metrics_dir = _get("PROMETHEUS_MULTIPROC_DIR") or None

    return Config(
        debug=debug,
        secret_key=resolved["SECRET_KEY"],
        init_token_secret=resolved["INIT_TOKEN_SECRET"],
        session_token_secret=resolved["SESSION_TOKEN_SECRET"],
        init_token_lifespan=_int("INIT_TOKEN_LIFESPAN", 86400),
        session_token_lifespan=_int("SESSION_TOKEN_LIFESPAN", 86400),
        allowed_hosts=_list("ALLOWED_HOSTS", default_hosts),
        web_domain=web_domain,
        database_url=_get("DATABASE_URL") or None,
        database_host=_get("DATABASE_HOST") or None,
        database_port=_get("DATABASE_PORT", "5432") or "5432",
        database_user=_get("DATABASE_USER", "postgres") or "postgres",
        database_password=_get("DATABASE_PASSWORD", "") or "",
        database_name=_get("DATABASE_NAME", "peermetrics") or "peermetrics",
        conn_max_age=_int("CONN_MAX_AGE", 60),
        redis_host=_get("REDIS_HOST") or None,
        data_dir=data_dir,
        post_conference_cleanup=_bool("POST_CONFERENCE_CLEANUP", False),
        conference_timeout_hours=_float("CONFERENCE_TIMEOUT_HOURS", 4.0),
        stats_interval_ms=_int("STATS_INTERVAL_MS", 10000),
        max_body_bytes=_int("MAX_BODY_BYTES", 1_048_576),
        log_level=(_get("LOG_LEVEL", "INFO") or "INFO").upper(),
        cors_allowed_origins=cors_origins,
        ingest_sink=ingest_sink,
        stats_retention_days=_int("STATS_RETENTION_DAYS", 30),
        ingest_stream=_get("INGEST_STREAM", "pm:stats") or "pm:stats",
        ingest_spool=_bool("INGEST_SPOOL", True),
        ingest_spool_dir=Path(_get("INGEST_SPOOL_DIR") or (data_dir / "spool")),
        ingest_spool_fsync_seconds=_float("INGEST_SPOOL_FSYNC_SECONDS", 1.0),
        static_root=_path("STATIC_ROOT", data_dir / "static"),
        csrf_trusted_origins=_list("CSRF_TRUSTED_ORIGINS", []),
        secure_proxy_ssl_header=(_get("SECURE_PROXY_SSL_HEADER", "") or "").strip(),
        secure_ssl_redirect=_bool("SECURE_SSL_REDIRECT", False),
        secure_cookies=_bool("SECURE_COOKIES", not debug),
        secure_hsts_seconds=_int("SECURE_HSTS_SECONDS", 0),
        secure_hsts_include_subdomains=_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False),
        secure_hsts_preload=_bool("SECURE_HSTS_PRELOAD", False),
        trusted_proxy_hops=proxy_hops,
        metrics_token=metrics_token,
        metrics_allowed_ips=metrics_allowed_ips,
        metrics_dir=Path(metrics_dir) if metrics_dir else None,
        log_format=_choice("LOG_FORMAT", "plain" if debug else "json", {"plain", "json"}),
        log_requests=_bool("LOG_REQUESTS", False),
    )
