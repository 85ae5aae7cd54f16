"""Queue again the jobs that a stopped worker left half-done (run by `serve` before its worker starts).

On one machine, nothing is running when Chorus starts, so a job still marked running was lost with the
worker that had it: the file-system broker does not redeliver a task whose worker was killed (Redis does,
after its visibility timeout). Every job claims itself by compare-and-set, so queueing one twice is harmless.
"""

from django.core.management.base import BaseCommand
from django.db import transaction

from labeling.recovery import requeue_unfinished
from projects.models import ImportJob, JobStatus


class Command(BaseCommand):
    help = "Mark jobs left running by a stopped worker as queued again and send them to the worker."

    def handle(self, *args, **options):
        from projects.tasks import run_import

        recovered = []
        with transaction.atomic():
            for job in ImportJob.objects.select_for_update().filter(
                status__in=[JobStatus.RUNNING, JobStatus.QUEUED]
            ):
                # An import writes in one transaction, so a killed one left nothing behind.
                ImportJob.objects.filter(pk=job.pk).update(status=JobStatus.QUEUED, processed=0)
                transaction.on_commit(lambda pk=job.pk: run_import.delay(pk))
                recovered.append(f"import {job.pk}")
        recovered += requeue_unfinished()
        if recovered:
            self.stdout.write(f"Queued again after an interrupted stop: {', '.join(recovered)}")
