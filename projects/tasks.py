"""Background work of the projects app: thin tasks that take ids and call a service."""

from celery import shared_task

from . import services


@shared_task(name="projects.run_import", acks_late=True)
def run_import(job_id: int) -> None:
    services.run_import(job_id)
