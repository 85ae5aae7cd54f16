"""Background work of the labeling app: thin tasks that take ids and call a service."""

from celery import shared_task

from . import application
from . import refit as refit_service


@shared_task(name="labeling.apply_lf_version", acks_late=True)
def apply_lf_version(version_id: int, chunk_rows: int | None = None) -> None:
    application.start(version_id, chunk_rows)


@shared_task(name="labeling.apply_lf_chunk", acks_late=True)
def apply_lf_chunk(version_id: int, chunk_start: int) -> None:
    application.apply_chunk(version_id, chunk_start)


@shared_task(name="labeling.apply_lf_chunks", acks_late=True)
def apply_lf_chunks(version_ids: list[int], chunk_start: int) -> None:
    """One chunk of rows, every version of the application on it (the rows are read once)."""
    application.apply_chunk(version_ids, chunk_start)


@shared_task(name="labeling.refit", acks_late=True)
def refit(run_id: int) -> None:
    refit_service.refit(run_id)


@shared_task(name="labeling.compare_models", acks_late=True)
def compare_models(run_id: int) -> None:
    refit_service.compare_models(run_id)


@shared_task(name="labeling.build_export", acks_late=True)
def build_export(job_id: int) -> None:
    from . import export_jobs

    export_jobs.build(job_id)


@shared_task(name="labeling.restore_archive", acks_late=True)
def restore_archive(job_id: int) -> None:
    from . import restore_jobs

    restore_jobs.run(job_id)
