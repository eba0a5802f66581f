"""Django settings. Every value that varies between installs comes from
``api.env`` (the only reader of the environment); the server's own code
reads them through ``settings.CONFIG``, one typed object (api.env.Config)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import dj_database_url

from api import env

CONFIG = env.load()
BASE_DIR = env.BASE_DIR

DEBUG = CONFIG.debug
SECRET_KEY = CONFIG.secret_key
ALLOWED_HOSTS = CONFIG.allowed_hosts
# Origins other than the request's own host that may POST forms (the admin
# login behind a proxy that rewrites Host, or another dashboard host).
CSRF_TRUSTED_ORIGINS = CONFIG.csrf_trusted_origins

# TLS ends at the proxy in front: trust its header saying the request came
# over HTTPS (only set this when the proxy always sets or strips it).
if CONFIG.secure_proxy_ssl_header:
    SECURE_PROXY_SSL_HEADER = (
        "HTTP_" + CONFIG.secure_proxy_ssl_header.upper().replace("-", "_"),
        "https",
    )
SECURE_SSL_REDIRECT = CONFIG.secure_ssl_redirect
SECURE_HSTS_SECONDS = CONFIG.secure_hsts_seconds
SECURE_HSTS_INCLUDE_SUBDOMAINS = CONFIG.secure_hsts_include_subdomains
SECURE_HSTS_PRELOAD = CONFIG.secure_hsts_preload

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    # Failed logins, counted per account and per address (django-axes).
    "axes",
    # Only for the docs page: with ninja installed, Swagger UI is served from
    # its bundled static files instead of a CDN (the server may be offline).
    "ninja",
    "api.common",
    "api.tenancy",
    "api.calls",
    "api.events",
    "api.quality",
    "api.rollups",
    "api.ingest",
    "api.query",
    "api.dashboard",
]

# Dumps, exports and webhooks (docs/interop.md), and the task library
# whose database backend queues the webhook deliveries (run by
# `manage.py db_worker`, docker/start db_worker).
INSTALLED_APPS += ["django_tasks", "django_tasks_db", "api.webhooks", "api.interop"]

TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default"],
    }
}

MIDDLEWARE = [
    # First, so that it times and counts everything below it.
    "api.common.middleware.RequestContextMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # Host, body size, NUL in the query string: JSON errors before any view.
    "api.common.guards.RequestGuardMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

if not DEBUG:
    # Static files from the process itself, compressed and hashed (no nginx
    # needed for them), right after the security headers are set. In
    # development runserver serves them from the apps' folders.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
        "whitenoise.middleware.WhiteNoiseMiddleware",
    )

ROOT_URLCONF = "api.urls"
WSGI_APPLICATION = "api.wsgi.application"
AUTH_USER_MODEL = "tenancy.User"
# The SDK routes have no trailing slash; never redirect them to one.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _database() -> dict[str, Any]:
    db: dict[str, Any]
    if CONFIG.database_url:
        db = dict(dj_database_url.parse(CONFIG.database_url, conn_max_age=CONFIG.conn_max_age))
    elif CONFIG.database_host:
        db = {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": CONFIG.database_host,
            "PORT": CONFIG.database_port,
            "USER": CONFIG.database_user,
            "PASSWORD": CONFIG.database_password,
            "NAME": CONFIG.database_name,
            "CONN_MAX_AGE": CONFIG.conn_max_age,
        }
    else:
        CONFIG.data_dir.mkdir(parents=True, exist_ok=True)
        db = {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(CONFIG.data_dir / "db.sqlite3"),
        }
    if db["ENGINE"].endswith("sqlite3"):
        # Several gunicorn workers share one SQLite file: WAL lets readers run
        # beside the writer, IMMEDIATE transactions take the write lock up front
        # (no deadlock on lock upgrade) and busy_timeout waits instead of failing.
        db["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
        db["CONN_MAX_AGE"] = 0 if not CONFIG.conn_max_age else CONFIG.conn_max_age
    else:
        db.setdefault("CONN_HEALTH_CHECKS", True)
        # An unreachable server fails a request (or /ready) in seconds
        # instead of holding it until the kernel gives up on the connect.
        db.setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
        # Django turns psycopg's prepared statements off. Its own queries
        # bind on the client and are never prepared either way; the ingest
        # statements (api.events.writer) bind on the server and, prepared after
        # a few runs, cost PostgreSQL about a fifth less CPU per sample.
        # PgBouncer in transaction mode needs max_prepared_statements set
        # (1.21+; docs/scaling.md).
        db.setdefault("OPTIONS", {}).setdefault("prepare_threshold", 5)
    return db


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
IS_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"

if CONFIG.redis_url:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": CONFIG.redis_url,
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": 1,
                "SOCKET_TIMEOUT": 1,
                # A cache outage degrades to the database, never to a 500.
                "IGNORE_EXCEPTIONS": True,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Logins (the admin's and the API's): django-axes refuses a locked-out
# account or address before the password hasher runs. The counts live in
# Redis when it is configured, else in the database: shared by every
# process either way (docs/security.md).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = CONFIG.login_failure_limit
AXES_COOLOFF_TIME = timedelta(minutes=CONFIG.login_lockout_minutes)
# Either alone locks: an account guessed at from many addresses, and an
# address trying one password on many accounts.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_CLIENT_IP_CALLABLE = "api.common.client_ip.client_ip"
AXES_HANDLER = (
    "axes.handlers.cache.AxesCacheHandler"
    if CONFIG.redis_url
    else "axes.handlers.database.AxesDatabaseHandler"
)
AXES_RESET_ON_SUCCESS = True
# No row per successful login (who logged in when is not kept).
AXES_DISABLE_ACCESS_LOG = True
# No "AXES: BEGIN …" line at every start (the dev server printed it five times).
AXES_VERBOSE = False
# Its middleware only turns a lockout into an HTML page; the API answers
# its own JSON and the admin's login simply fails while locked.
SILENCED_SYSTEM_CHECKS = ["axes.W002"]

# Rate limits (api.common.limits) count in the default cache; a cache that
# does not answer lets requests through.
RATELIMIT_USE_CACHE = "default"
RATELIMIT_FAIL_OPEN = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
# Filled by `manage.py collectstatic` (at image build in the container).
STATIC_ROOT = CONFIG.static_root
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Production: hashed names (cached for ever by browsers) and gzip copies,
    # made by collectstatic. Development serves the files as they are.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Bodies above this are refused with 413 before they are parsed; the SDK's
# stats requests are about 8 KB.
DATA_UPLOAD_MAX_MEMORY_SIZE = CONFIG.max_body_bytes
# Routes whose body may exceed MAX_BODY_BYTES (api.common.guards): the dump
# upload checks its file against IMPORT_MAX_BYTES itself; the bound here
# leaves room for the multipart envelope.
LARGE_BODY_ROUTES = [
    (r"^/v1/apps/[0-9a-fA-F-]{36}/imports$", CONFIG.import_max_bytes + 65_536),
    # the dashboard's upload form (api.dashboard.views.dump_upload)
    (r"^/app/[0-9a-fA-F-]{36}/import$", CONFIG.import_max_bytes + 65_536),
]

SESSION_COOKIE_NAME = "pmsession"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = CONFIG.secure_cookies
CSRF_COOKIE_SECURE = CONFIG.secure_cookies
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "api.common.views.csrf_failure"

# CORS: the SDK routes answer any origin (decided per request in
# api.ingest.cors); everything else only the configured dashboard origins.
CORS_ALLOWED_ORIGINS = CONFIG.cors_allowed_origins
CORS_ALLOW_CREDENTIALS = False
CORS_PREFLIGHT_MAX_AGE = 86400

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request": {"()": "api.common.logs.RequestContextFilter"}},
    "formatters": {
        "plain": {
            "()": "api.common.logs.PlainFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
        "json": {"()": "api.common.logs.json_formatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": CONFIG.log_format,
            "filters": ["request"],
        }
    },
    "root": {"handlers": ["console"], "level": CONFIG.log_level},
    "loggers": {
        # Django's own console handler would print its records a second
        # time, unformatted: they go to the root handler only.
        "django": {"handlers": [], "level": "INFO"},
        "django.db.backends": {"level": "INFO"},
    },
}

# The dashboard's login page (api.dashboard); after logging in, "/" opens
# the app last looked at.
LOGIN_URL = "/login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login"
