"""Django settings. Every value that varies between installs comes from
``api.env`` (the only reader of the environment); the server's own code
reads them through ``settings.CONFIG``, one typed object (api.env.Config)."""

from __future__ import annotations

from typing import Any

import dj_database_url

from api import env

CONFIG = env.load()
BASE_DIR = env.BASE_DIR

DEBUG = CONFIG.debug
SECRET_KEY = CONFIG.secret_key
ALLOWED_HOSTS = CONFIG.allowed_hosts

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    # Only for the docs page: with ninja installed, Swagger UI is served from
    # its bundled static files instead of a CDN (the server may be offline).
    "ninja",
    "api.common",
    "api.tenancy",
    "api.calls",
    "api.events",
    "api.quality",
    "api.ingest",
    "api.query",
]

MIDDLEWARE = [
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

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
STATIC_ROOT = CONFIG.data_dir / "static"

# Bodies above this are refused with 413 before they are parsed; the SDK's
# stats requests are about 8 KB.
DATA_UPLOAD_MAX_MEMORY_SIZE = CONFIG.max_body_bytes

SESSION_COOKIE_NAME = "pmsession"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
X_FRAME_OPTIONS = "DENY"

# CORS: the SDK routes answer any origin (decided per request in
# api.ingest.cors); everything else only the configured dashboard origins.
CORS_ALLOWED_ORIGINS = CONFIG.cors_allowed_origins
CORS_ALLOW_CREDENTIALS = False
CORS_PREFLIGHT_MAX_AGE = 86400

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": CONFIG.log_level},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
    },
}
