"""An import that updates existing samples (on_duplicate=update) refreshes what the LFs read and re-applies them."""

from django.core.files.uploadedfile import SimpleUploadedFile

from labeling import services, snapshot
from projects import services as project_services
from projects.models import ImportJob
from tests.conftest import make_project
from tests.labeling.helpers import apply_and_refit


def _import(project, user, content: str, **options):
    job = project_services.start_import(
        project=project,
        user=user,
        upload=SimpleUploadedFile("s.csv", content.encode()),
        options={"text_field": "text", "id_field": "id", **options},
    )
    project_services.run_import(job.pk)
    job.refresh_from_db()
    assert job.status == "done", job.errors
    return job


def test_updated_texts_reach_the_snapshot_and_the_votes(alice, django_capture_on_commit_callbacks):
    project = make_project(alice, name="Updates")
    _import(project, alice, "id,text\na,great song\nb,nice voice\n")
    lf = services.create_lf(
        project=project, user=alice, name="song", kind="keyword", label="HAM", config={"keywords": ["song"]}
    )
    apply_and_refit(project)
    lf.refresh_from_db()
    assert lf.current.vote_array().tolist() == [0, -1]
    with django_capture_on_commit_callbacks(execute=False):
        job = _import(project, alice, "id,text\na,check my channel\nb,my song\n", on_duplicate="update")
    assert job.updated == 2
    assert snapshot.load(project, 2).column("text").to_pylist() == ["check my channel", "my song"]
    lf.current.refresh_from_db()
    assert lf.current.status == "queued"  # re-applied over the new text
    apply_and_refit(project)
    lf.refresh_from_db()
    assert lf.current.vote_array().tolist() == [-1, 0]
    assert ImportJob.objects.filter(project=project).count() == 2
