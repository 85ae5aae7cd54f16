"""Chorus settings: one module, every deploy-specific value from the environment.

The defaults give the embedded shape (SQLite in WAL mode, a file-system Celery broker, local storage)
so `make run` works on a bare machine; production sets DATABASE_URL, CELERY_BROKER_URL and SECRET_KEY.
A value that cannot be parsed stops start-up with a message naming the variable.
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true/false, 1/0, yes/no, on/off)")


def env_int(name: str, default: int, minimum: int = 1) -> int:
    """A whole number from the environment; sizes, limits and timeouts are at least 1 unless told."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r} must be at least {minimum}")
    return value


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DATA_DIR = Path(env_str("CHORUS_DATA_DIR", str(BASE_DIR / "var")))
DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    # The embedded default keeps a generated key beside its database rather than shipping a known one.
    path = DATA_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    path.write_text(key)
    path.chmod(0o600)
    return key


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "template_partials",
    "django_htmx",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "projects",
    "labeling",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Before any view hook (the CSRF check reads the body): an upload over the limit is refused unread.
    "projects.uploads.RefuseOversizedUploads",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]


def _database() -> dict:
    url = os.environ.get("DATABASE_URL")
    if not url:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "chorus.sqlite3",
            # WAL lets the worker write while the web server reads; IMMEDIATE avoids lock upgrades failing.
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    try:
        config = dj_database_url.parse(url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0))
    except Exception as exc:
        raise ImproperlyConfigured(f"DATABASE_URL cannot be parsed: {exc}") from None
    if config.get("ENGINE") == "django.db.backends.postgresql":
        config.setdefault("TEST", {})["NAME"] = os.environ.get("TEST_DATABASE_NAME", "test_chorus")
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(DATA_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "media")))
MEDIA_URL = "media/"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "project_list"
LOGOUT_REDIRECT_URL = "login"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"

# Uploads over this size are refused before any parsing (bytes).
CHORUS_MAX_UPLOAD_BYTES = env_int("CHORUS_MAX_UPLOAD_BYTES", 512 * 1024 * 1024)
CHORUS_MAX_TEXT_CHARS = env_int("CHORUS_MAX_TEXT_CHARS", 100_000)
# A compressed upload (gzip, zip) may unpack to at most this many bytes, and at most this many times its
# compressed size: past either it is refused as a zip bomb.
CHORUS_MAX_DECOMPRESSED_BYTES = env_int("CHORUS_MAX_DECOMPRESSED_BYTES", 4 * 1024 * 1024 * 1024)
CHORUS_MAX_COMPRESSION_RATIO = env_int("CHORUS_MAX_COMPRESSION_RATIO", 200)
# One LF application is cut into chunks of this many rows, spread over the workers.
CHORUS_APPLY_CHUNK_ROWS = env_int("CHORUS_APPLY_CHUNK_ROWS", 125_000)
# Hosts that external-service labeling functions may call ("*" for any); empty: none.
CHORUS_SERVICE_HOSTS = env_list("CHORUS_SERVICE_HOSTS", "")
# A code LF runs in sandboxed processes: wall-clock seconds per batch, and memory per process.
CHORUS_CODE_LF_TIMEOUT = env_int("CHORUS_CODE_LF_TIMEOUT", 60)
CHORUS_CODE_LF_MEMORY_MB = env_int("CHORUS_CODE_LF_MEMORY_MB", 1024)
# A code LF's preview runs in the web server on a sample of the project: a short deadline keeps it responsive.
CHORUS_CODE_PREVIEW_TIMEOUT = env_int("CHORUS_CODE_PREVIEW_TIMEOUT", 5)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Named tokens made in the browser (projects/tokens.py says why not DRF's one token per user).
        "projects.tokens.ApiTokenAuthentication",
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    # Sign-in for tokens is throttled per client address, against password guessing.
    "DEFAULT_THROTTLE_RATES": {"token": env_str("CHORUS_TOKEN_RATE", "20/min")},
    # The client address is REMOTE_ADDR unless there are trusted proxies in front: an X-Forwarded-For a
    # client sends itself must not pick its own throttle bucket.
    "NUM_PROXIES": env_int("CHORUS_NUM_PROXIES", 0, minimum=0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Chorus API",
    "DESCRIPTION": "Projects, samples, hand labels, labeling functions, label-model runs and exports.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The browsable docs load nothing from outside (a private deployment may have no internet).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# The cache holds throttle counters (token sign-in), so every web process must share it: a directory on the
# embedded default, Redis (CACHE_URL=redis://host:6379/1) when there are several machines.
CACHE_URL = env_str("CACHE_URL", "")
if CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
elif CACHE_URL == "":
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
        }
    }
else:
    raise ImproperlyConfigured(f"CACHE_URL must be empty or a redis:// address, got {CACHE_URL!r}")

# Failed sign-ins (the browser form and /api/token/) before they answer 429 for the window: per username at one
# client address, and per address over all usernames (against one password tried on many names). The
# per-address ceiling is higher, so the people behind one office NAT do not lock each other out.
CHORUS_SIGNIN_MAX_FAILURES = env_int("CHORUS_SIGNIN_MAX_FAILURES", 10)
CHORUS_SIGNIN_MAX_FAILURES_PER_ADDRESS = env_int("CHORUS_SIGNIN_MAX_FAILURES_PER_ADDRESS", 100)
if CHORUS_SIGNIN_MAX_FAILURES_PER_ADDRESS < CHORUS_SIGNIN_MAX_FAILURES:
    raise ImproperlyConfigured(
        f"CHORUS_SIGNIN_MAX_FAILURES_PER_ADDRESS={CHORUS_SIGNIN_MAX_FAILURES_PER_ADDRESS} must be at least "
        f"CHORUS_SIGNIN_MAX_FAILURES={CHORUS_SIGNIN_MAX_FAILURES}"
    )
CHORUS_SIGNIN_WINDOW_SECONDS = env_int("CHORUS_SIGNIN_WINDOW_SECONDS", 300)

# Celery. The embedded default's broker is kombu's file-system transport, which needs no server.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
_broker_dir = DATA_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("in", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "in"),
        "data_folder_out": str(_broker_dir / "in"),
        "processed_folder": str(_broker_dir / "processed"),
        # Where the transport keeps its exchange tables (kombu's default is ./control in the current folder).
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    # Longer than the longest task, so an unacknowledged (acks_late) task is not redelivered while it runs.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3 * 3600)}
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "chorus")
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "chorus@localhost")
# How long an invitation link works (days), and a password-reset link (seconds).
CHORUS_INVITATION_DAYS = env_int("CHORUS_INVITATION_DAYS", 7)
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 3 * 24 * 3600)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"client_errors": {"()": "config.log_filters.ClientErrorsWithoutTraceback"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["client_errors"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
