"""Restoring a project archive uploaded from the browser or the API: the request stores the file and queues a
job; a worker makes the new project (labeling.archive.restore), writing its progress as it goes.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from projects.formats import ImportFailed
from projects.models import JobStatus
from projects.services import ServiceError

from . import archive
from .models import RestoreJob

log = logging.getLogger(__name__)


@transaction.atomic
def start_restore(*, user, upload, name: str = "") -> RestoreJob:
    """Queue the restore of an uploaded archive as a new project of `user` (anyone who may create a project)."""
    if upload is None:
        raise ServiceError("choose a Chorus project archive (.chorus.zip, from an archive export)", "file")
    limit = settings.CHORUS_MAX_UPLOAD_BYTES
    if upload.size == 0:
        raise ServiceError("the file is empty", "file")
    if upload.size > limit:
        raise ServiceError(f"the file is {upload.size:,} bytes, more than the limit of {limit:,}", "file")
    name = (name or "").strip()
    if len(name) > 200:
        raise ServiceError("a project name can have at most 200 characters", "name")
    upload.seek(0)
    archive.read_manifest(upload)  # a file that is not an archive is refused now, not in the worker
    upload.seek(0)
    job = RestoreJob(created_by=user, filename=upload.name[:255], name=name)
    job.file.save(upload.name, upload, save=True)
    from .tasks import restore_archive

    transaction.on_commit(lambda: restore_archive.delay(job.pk))
    return job


class _Progress:
    """Progress written on a second connection: the restore's own transaction shows nobody anything yet."""

    def __init__(self, job_id: int):
        self.job_id = job_id
        self.conn = None
        self.last = 0.0

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if connections["default"].vendor == "sqlite":
            # SQLite has one writer at a time: a second connection would wait on the restore's own
            # transaction and fail with "database is locked". The job page shows the restore running.
            return
        now = timezone.now().timestamp()
        if stage == getattr(self, "stage", None) and now - self.last < 0.5:
            return
        self.stage, self.last = stage, now
        if self.conn is None:
            self.conn = connections.create_connection("default")
        with self.conn.cursor() as cursor:
            cursor.execute(
                f"UPDATE {RestoreJob._meta.db_table} SET stage = %s, processed = %s, total = %s WHERE id = %s",
                [stage, done, total, self.job_id],
            )

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def run(job_id: int) -> None:
    """Carry out a queued restore (called by the worker); a second delivery of the same job does nothing."""
    claimed = RestoreJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=timezone.now()
    )
    if claimed != 1:
        return
    job = RestoreJob.objects.select_related("created_by").get(pk=job_id)
    progress = _Progress(job.pk)
    errors = None
    try:
        restored = archive.restore(
            user=job.created_by, path=job.file.path, name=job.name or None, on_progress=progress
        )
    except ServiceError as exc:
        errors = [{"message": exc.message, **({"field": exc.field} if exc.field else {})}]
    except ImportFailed as exc:
        errors = [p.as_dict() for p in exc.problems]
    except Exception:
        log.exception("restore %s failed", job.pk)
        errors = [{"message": "the restore failed because of an internal error; no project was made"}]
    finally:
        progress.close()
    if errors is not None:
        RestoreJob.objects.filter(pk=job.pk).update(
            status=JobStatus.FAILED, errors=errors, stage="", finished_at=timezone.now()
        )
        return
    count = restored.project.samples.count()
    RestoreJob.objects.filter(pk=job.pk).update(
        status=JobStatus.DONE,
        project=restored.project,
        notices=restored.notices,
        stage="",
        processed=count,
        total=count,
        finished_at=timezone.now(),
    )
