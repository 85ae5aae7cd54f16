"""Queue again the LF applications, refits and model comparisons a stopped worker left unfinished (see
recover_jobs)."""

from django.db import transaction

from projects.models import JobStatus

from .models import LabelModelRun, LFVersion, VoteChunk


def requeue_unfinished() -> list[str]:
    from .tasks import apply_lf_version, compare_models, refit

    recovered = []
    with transaction.atomic():
        for version in LFVersion.objects.select_for_update().filter(
            status__in=[JobStatus.RUNNING, JobStatus.QUEUED]
        ):
            VoteChunk.objects.filter(version=version).delete()
            LFVersion.objects.filter(pk=version.pk).update(status=JobStatus.QUEUED, processed=0)
            transaction.on_commit(lambda pk=version.pk: apply_lf_version.delay(pk))
            recovered.append(f"labeling function version {version.pk}")
        for run in LabelModelRun.objects.select_for_update().filter(
            status__in=[JobStatus.RUNNING, JobStatus.QUEUED]
        ):
            LabelModelRun.objects.filter(pk=run.pk).update(status=JobStatus.QUEUED, stage="waiting for votes")
            transaction.on_commit(lambda pk=run.pk: refit.delay(pk))
            recovered.append(f"refit {run.pk}")
        # A finished run past COMPARED_INLINE_ROWS whose comparison task was lost with its worker.
        for pk in LabelModelRun.objects.filter(
            status=JobStatus.DONE, summary__comparison="pending"
        ).values_list("pk", flat=True):
            transaction.on_commit(lambda pk=pk: compare_models.delay(pk))
            recovered.append(f"comparison of refit {pk}")
    return recovered
