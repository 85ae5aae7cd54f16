"""Background work of the labeling app: thin tasks that take ids and call a service."""

from celery import shared_task

from . import refit as refit_service
from . import services


@shared_task(name="labeling.apply_lf_version", acks_late=True)
def apply_lf_version(version_id: int) -> None:
    services.apply_version(version_id)


@shared_task(name="labeling.refit", acks_late=True)
def refit(run_id: int) -> None:
    refit_service.refit(run_id)
