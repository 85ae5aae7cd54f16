"""Imports carried out by the real Celery worker: the upload is queued after commit and the job reaches an end."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from projects import services
from projects.models import Annotation, ImportJob, Sample
from tests.conftest import wait_for


def finished(job):
    def check():
        job.refresh_from_db()
        return job if job.finished else None

    return wait_for(check, timeout=60, what=f"import job {job.pk} to finish")


def test_the_worker_imports_an_uploaded_csv(worker, project, alice):
    content = 'COMMENT_ID,CONTENT,CLASS\nc1,Check out my channel,1\nc2,"great\nsong",0\nc3,🎵 nice 🎵,\n'
    job = services.start_import(
        project=project,
        user=alice,
        upload=SimpleUploadedFile("comments.csv", content.encode()),
        options={
            "text_field": "CONTENT",
            "id_field": "COMMENT_ID",
            "label_field": "CLASS",
            "label_map": {"0": "HAM", "1": "SPAM"},
        },
    )
    assert finished(job).status == "done", job.errors
    assert (job.imported, job.labels_imported, job.processed, job.total, job.percent) == (3, 2, 3, 3, 100)
    got = list(Sample.objects.filter(project=project).values_list("row", "external_id", "text", "gold_label"))
    assert got == [
        (0, "c1", "Check out my channel", 1),
        (1, "c2", "great\nsong", 0),
        (2, "c3", "🎵 nice 🎵", None),
    ]
    assert Annotation.objects.filter(project=project, source="import").count() == 2


def test_the_worker_reports_a_bad_file_and_writes_nothing(worker, project, alice):
    content = "CONTENT,CLASS\nfine,0\nspam here,3\n"
    job = services.start_import(
        project=project,
        user=alice,
        upload=SimpleUploadedFile("bad.csv", content.encode()),
        options={"text_field": "CONTENT", "label_field": "CLASS", "label_map": {"0": "HAM", "1": "SPAM"}},
    )
    assert finished(job).status == "failed"
    assert job.errors == [
        {
            "message": "line 3: label '3' is not one of the project's classes (HAM, SPAM); add it to label_map",
            "line": 3,
            "field": "CLASS",
        }
    ]
    assert job.imported == 0
    assert not Sample.objects.filter(project=project).exists()
    assert not Annotation.objects.filter(project=project).exists()
    assert ImportJob.objects.get(pk=job.pk).finished_at is not None
