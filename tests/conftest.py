"""Shared fixtures: personas, small make_* helpers, and a real Celery worker.

The suite runs on PostgreSQL with Redis as the broker (the Makefile's `test` target sets DATABASE_URL and
CELERY_BROKER_URL). Tests that need them fail, not skip, when CI=true and they are missing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from hypothesis import settings as hypothesis_settings

REPO = Path(__file__).resolve().parents[1]


def _shared_dir() -> Path:
    """shared/ as bench/datasets.py finds it (CHORUS_SHARED_DIR, beside the checkout, or beside the git
    origin of a clone made elsewhere); ../shared when there is none, for the tests to say so."""
    from bench.datasets import datasets_dir

    try:
        return datasets_dir().parent
    except FileNotFoundError:
        return REPO.parent / "shared"


SHARED = _shared_dir()
DATASETS = SHARED / "datasets"
IN_CI = os.environ.get("CI", "").lower() == "true"

# In CI, property tests draw the same examples every run, so a pass or a failure is repeatable.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if IN_CI:
    hypothesis_settings.load_profile("ci")


def need(condition: bool, why: str) -> None:
    """Skip locally when a real part is missing; in CI a missing part is a failure."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required for this test in CI: {why}")
    pytest.skip(why)


@pytest.fixture(scope="session")
def datasets() -> Path:
    need(DATASETS.is_dir(), f"the shared datasets at {DATASETS}")
    return DATASETS


def _uses_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def _uses_redis() -> bool:
    return settings.CELERY_BROKER_URL.startswith("redis://")


@pytest.fixture(scope="session", autouse=True)
def _real_services():
    if IN_CI and not _uses_postgres():
        pytest.fail("CI runs the suite on PostgreSQL: set DATABASE_URL (the Makefile's test target does)")


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing():
    # Personas are made in almost every test; the default PBKDF2 costs about a second per user on a busy
    # 2-core machine. Tests check access rules, not hash strength.
    # PBKDF2 stays second so hashes made outside the tests (e.g. by a subprocess) still verify.
    if not settings.configured:  # the engine's tests run without Django (-p no:django)
        return
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]


# --- personas and helpers ------------------------------------------------------------------------------------


def make_user(username: str, password: str = "pw-for-tests-1"):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(
        username=username, password=password, email=f"{username}@example.com"
    )


def make_project(owner, name="Spam", labels=("HAM", "SPAM"), **kwargs):
    from projects import services

    return services.create_project(user=owner, name=name, labels=list(labels), **kwargs)


def add_member(project, user, role):
    from projects import services

    return services.add_member(project=project, user=user, role=role)


def make_samples(project, texts, splits=None, gold=None):
    """Samples straight into the database (no import job), with rows continuing the project's."""
    from projects.models import Annotation, Sample

    start = Sample.objects.filter(project=project).count()
    samples = []
    for i, text in enumerate(texts):
        samples.append(
            Sample(
                project=project,
                row=start + i,
                external_id=f"s{start + i}",
                text=text,
                split=(splits[i] if splits else "train"),
                gold_label=(gold[i] if gold else None),
            )
        )
    created = Sample.objects.bulk_create(samples)
    Annotation.objects.bulk_create(
        [
            Annotation(project=project, sample=s, source="import", label=s.gold_label)
            for s in created
            if s.gold_label is not None
        ]
    )
    return list(Sample.objects.filter(project=project, row__gte=start).order_by("row"))


@pytest.fixture
def alice(db):
    """Project admin."""
    return make_user("alice")


@pytest.fixture
def bob(db):
    """Developer."""
    return make_user("bob")


@pytest.fixture
def charlie(db):
    """Annotator."""
    return make_user("charlie")


@pytest.fixture
def dana(db):
    """Viewer."""
    return make_user("dana")


@pytest.fixture
def eve(db):
    """Outsider: a member of no project."""
    return make_user("eve")


@pytest.fixture
def project(alice, bob, charlie, dana):
    p = make_project(alice)
    add_member(p, bob, "developer")
    add_member(p, charlie, "annotator")
    add_member(p, dana, "viewer")
    return p


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


def token_client(user):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    token, _ = Token.objects.get_or_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


# --- the real worker ---------------------------------------------------------------------------------------------


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.1, what: str = "the worker"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker):
    """A real `celery worker` process on the test database, consuming from Redis."""
    need(_uses_postgres(), "PostgreSQL (DATABASE_URL=postgres://…)")
    need(_uses_redis(), "Redis as the Celery broker (CELERY_BROKER_URL=redis://…)")
    import redis

    try:
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        client.ping()
    except Exception as exc:  # noqa: BLE001
        need(False, f"Redis at {settings.CELERY_BROKER_URL} ({exc})")
    # Messages left over from an earlier, interrupted run would be delivered to this worker.
    client.flushdb()
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env["DATABASE_URL"] = (
        f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    env["CHORUS_DATA_DIR"] = str(settings.DATA_DIR)
    env["MEDIA_ROOT"] = str(settings.MEDIA_ROOT)
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    log = open(settings.DATA_DIR / "test-worker.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-l",
            "info",
            "-c",
            "2",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"test-{os.getpid()}@%h",
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    from config.celery import app

    def ready():
        if proc.poll() is not None:
            raise AssertionError(f"the Celery worker exited with {proc.returncode}; see {log.name}")
        try:
            return app.control.ping(timeout=0.5)
        except Exception:  # noqa: BLE001
            return None

    wait_for(ready, timeout=60, interval=0.5, what="the Celery worker to start")
    yield proc
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    log.close()


@pytest.fixture
def worker(celery_worker_process, transactional_db):
    """Use in tests whose work goes through the real worker: data is committed so the worker sees it.

    After the test it waits until the worker is idle: a task still running while the database is emptied
    for the next test would deadlock with the flush or write into the next test's data.
    """
    yield celery_worker_process
    wait_for_idle_worker()


def wait_for_idle_worker(timeout: float = 60.0) -> None:
    import redis

    from config.celery import app

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queue = settings.CELERY_TASK_DEFAULT_QUEUE

    def idle():
        if broker.llen(queue):
            return False
        # One worker listens on this broker: stop waiting for replies as soon as it has answered.
        inspect = app.control.inspect(timeout=2.0, limit=1)
        busy = [inspect.active() or {}, inspect.reserved() or {}]
        return not any(tasks for replies in busy for tasks in replies.values())

    # Idle twice in a row: a finishing task may queue the next one (an application queues its refit).
    wait_for(
        lambda: idle() and (time.sleep(0.3) or idle()),
        timeout=timeout,
        interval=0.2,
        what="the worker to go idle",
    )
