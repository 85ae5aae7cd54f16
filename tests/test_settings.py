"""config/settings.py: the embedded default needs nothing, every value comes from the environment, and a bad
value stops start-up with a message naming the variable."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

SHOW = (
    "import json; from django.conf import settings as s; import django; django.setup(); "
    "db = s.DATABASES['default']; "
    "print(json.dumps({'engine': db['ENGINE'], 'name': str(db['NAME']), 'options': db.get('OPTIONS', {}), "
    "'test_name': db.get('TEST', {}).get('NAME'), 'broker': s.CELERY_BROKER_URL, "
    "'transport': s.CELERY_BROKER_TRANSPORT_OPTIONS, 'debug': s.DEBUG, 'hosts': s.ALLOWED_HOSTS, "
    "'media': str(s.MEDIA_ROOT), 'secret': s.SECRET_KEY, 'secure': s.SESSION_COOKIE_SECURE, "
    "'max_upload': s.CHORUS_MAX_UPLOAD_BYTES, 'cache': s.CACHES['default']}))"
)


def settings_with(tmp_path, **env):
    """The settings a fresh process gets from this environment (nothing inherited but PATH)."""
    base = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "CHORUS_DATA_DIR": str(tmp_path / "data"),
    }
    result = subprocess.run(
        [sys.executable, "-c", SHOW],
        cwd=REPO,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result


def shown(tmp_path, **env) -> dict:
    result = settings_with(tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_embedded_default_is_sqlite_in_wal_mode_and_a_filesystem_broker(tmp_path):
    got = shown(tmp_path)
    assert got["engine"] == "django.db.backends.sqlite3"
    assert got["name"] == str(tmp_path / "data" / "chorus.sqlite3")
    assert "journal_mode=WAL" in got["options"]["init_command"]
    assert got["broker"] == "filesystem://"
    assert got["transport"]["data_folder_in"] == str(tmp_path / "data" / "broker" / "in")
    assert (tmp_path / "data" / "broker" / "in").is_dir()
    assert got["media"] == str(tmp_path / "data" / "media")
    assert got["debug"] is False
    assert got["hosts"] == ["127.0.0.1", "localhost", "[::1]"]
    # Throttle counters are shared by every web process: a directory, not each process's memory.
    assert got["cache"]["BACKEND"].endswith("FileBasedCache")
    assert got["cache"]["LOCATION"] == str(tmp_path / "data" / "cache")


def test_without_secret_key_one_is_generated_once_and_kept_private(tmp_path):
    first = shown(tmp_path)["secret"]
    assert len(first) >= 50
    assert shown(tmp_path)["secret"] == first
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o777 == 0o600


def test_production_values_come_from_the_environment(tmp_path):
    got = shown(
        tmp_path,
        SECRET_KEY="s3cret",
        DATABASE_URL="postgres://u:p@db.example:5433/chorus",
        TEST_DATABASE_NAME="test_x",
        CELERY_BROKER_URL="redis://cache:6379/3",
        ALLOWED_HOSTS="chorus.example.com, other.example",
        DEBUG="false",
        SECURE_COOKIES="yes",
        CHORUS_MAX_UPLOAD_BYTES="1000",
        CACHE_URL="redis://cache:6379/4",
    )
    assert got["engine"] == "django.db.backends.postgresql"
    assert (got["name"], got["test_name"]) == ("chorus", "test_x")
    assert got["broker"] == "redis://cache:6379/3"
    assert got["transport"]["visibility_timeout"] == 3 * 3600
    assert got["hosts"] == ["chorus.example.com", "other.example"]
    assert (got["secret"], got["secure"], got["max_upload"]) == ("s3cret", True, 1000)
    assert not (tmp_path / "data" / "secret_key").exists()
    assert got["cache"] == {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://cache:6379/4",
    }


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("DEBUG", "maybe", "DEBUG='maybe' is not a boolean"),
        ("SECURE_COOKIES", "2", "SECURE_COOKIES='2' is not a boolean"),
        ("CHORUS_MAX_UPLOAD_BYTES", "10MB", "CHORUS_MAX_UPLOAD_BYTES='10MB' is not a whole number"),
        ("CELERY_VISIBILITY_TIMEOUT", "soon", "CELERY_VISIBILITY_TIMEOUT='soon' is not a whole number"),
        ("CACHE_URL", "memcached://x", "CACHE_URL must be empty or a redis:// address"),
        ("CHORUS_MAX_TEXT_CHARS", "-5", "CHORUS_MAX_TEXT_CHARS='-5' must be at least 1"),
        (
            "CHORUS_SIGNIN_MAX_FAILURES_PER_ADDRESS",
            "5",
            "CHORUS_SIGNIN_MAX_FAILURES_PER_ADDRESS=5 must be at least CHORUS_SIGNIN_MAX_FAILURES=10",
        ),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(tmp_path, name, value, says):
    env = {name: value}
    if name == "CELERY_VISIBILITY_TIMEOUT":
        env["CELERY_BROKER_URL"] = "redis://127.0.0.1:6379/0"
    result = settings_with(tmp_path, **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and says in result.stderr


def test_a_database_url_that_cannot_be_parsed_stops_start_up(tmp_path):
    result = settings_with(tmp_path, DATABASE_URL="nosuchdb://what")
    assert result.returncode != 0
    assert "DATABASE_URL cannot be parsed" in result.stderr
