"""A file imported again without an id field: its content is recognised (through gzip and zip), the API
refuses it with 409 unless import_again says so, the mapping step asks first; skip needs an id field."""

from __future__ import annotations

import gzip
import io
import re
import zipfile

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from projects import services
from projects.models import ImportJob, Sample
from tests.conftest import token_client

SEMI = b"text;score\nfree prize;1\nnice song;2\ncall now;3\n"


def post(client, project, content: bytes, name="semi.csv", **fields):
    form = {"text_field": "text", **fields, "file": SimpleUploadedFile(name, content)}
    return client.post(f"/api/projects/{project.pk}/imports/", form, format="multipart")


def imported(project, content=SEMI, name="semi.csv") -> ImportJob:
    """An import run to its end here (the db fixture never commits, so nothing reaches a worker)."""
    job = services.start_import(
        project=project, user=None, upload=SimpleUploadedFile(name, content), options={"text_field": "text"}
    )
    services.run_import(job.pk)
    job.refresh_from_db()
    assert job.status == "done", job.errors
    return job


def zipped(name: str, content: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(name, content)
    return out.getvalue()


def test_the_same_rows_gzipped_or_zipped_are_refused_with_409_naming_the_earlier_import(project, bob):
    first = imported(project)
    client = token_client(bob)
    for name, content in [
        ("semi.csv", SEMI),
        ("semi.csv.gz", gzip.compress(SEMI)),
        ("s.zip", zipped("s.csv", SEMI)),
    ]:
        response = post(client, project, content, name=name)
        assert response.status_code == 409, (name, response.json())
        body = response.json()
        assert (body["code"], body["field"], body["earlier_import"]) == ("already_imported", "file", first.pk)
        assert re.fullmatch(
            rf"(semi\.csv|{re.escape(name)} holds the same rows as semi\.csv, which) was imported on \d{{4}}-\d\d-\d\d "
            rf"\d\d:\d\d as import #{first.pk} \(3 samples\); send import_again=true to import its rows "
            r"again as new samples",
            body["message"],
        ), body["message"]
    # Nothing was stored or queued for the refused uploads.
    assert list(ImportJob.objects.values_list("pk", flat=True)) == [first.pk]
    assert Sample.objects.filter(project=project).count() == 3


def test_import_again_true_imports_the_rows_as_new_samples(project, bob):
    imported(project)
    response = post(token_client(bob), project, gzip.compress(SEMI), name="semi.csv.gz", import_again="true")
    assert response.status_code == 201, response.json()
    services.run_import(response.json()["id"])
    assert Sample.objects.filter(project=project).count() == 6


def test_other_content_another_project_an_id_field_or_a_failed_import_are_not_asked_about(
    project, bob, alice
):
    from tests.conftest import make_project

    imported(project)
    client = token_client(bob)
    assert post(client, project, SEMI + b"one more;4\n").status_code == 201
    other = make_project(alice, name="Other")
    from projects import services as project_services

    project_services.add_member(project=other, user=bob, role="developer")
    assert post(client, other, SEMI).status_code == 201
    # With an id field the ids decide: here they are taken, which the import itself reports.
    ided = b"id,text\na,x\n"
    imported_ided = services.start_import(
        project=project,
        user=None,
        upload=SimpleUploadedFile("i.csv", ided),
        options={"text_field": "text", "id_field": "id"},
    )
    services.run_import(imported_ided.pk)
    assert post(client, project, ided, name="i.csv", id_field="id").status_code == 201
    # A failed import wrote nothing, so the same file again is not a repeat.
    bad = b"text\n\n \n"
    failed = services.start_import(
        project=project, user=None, upload=SimpleUploadedFile("bad.csv", bad), options={"text_field": "text"}
    )
    services.run_import(failed.pk)
    assert ImportJob.objects.get(pk=failed.pk).status == "failed"
    assert post(client, project, bad, name="bad.csv").status_code == 201


def test_on_duplicate_skip_or_update_without_an_id_field_is_refused(project, bob):
    client = token_client(bob)
    for mode in ("skip", "update"):
        response = post(client, project, SEMI, on_duplicate=mode)
        assert response.status_code == 400
        assert response.json() == {
            "message": f"on_duplicate={mode} needs an id field: samples already in the project are found by "
            "their id, and without one every row is a new sample; choose the id field, or leave on_duplicate "
            "as fail (a file imported before is then asked about)",
            "field": "on_duplicate",
        }
    assert not ImportJob.objects.exists()


def test_the_mapping_step_asks_before_importing_the_same_file_again(client, project, bob):
    first = imported(project, name="comments.csv")
    client.force_login(bob)
    staged = client.post(
        reverse("import_samples", args=[project.pk]),
        {"file": SimpleUploadedFile("comments.csv.gz", gzip.compress(SEMI))},
    )
    token = staged["Location"].rstrip("/").split("/")[-1]
    url = reverse("import_map", args=[project.pk, token])
    response = client.post(url, {"text_field": "text", "start": "1"})
    html = response.content.decode()
    assert response.status_code == 409
    assert re.search(
        rf"comments\.csv\.gz holds the same rows as comments\.csv, which was imported on [\d :-]+ as import "
        rf"#{first.pk} \(3 samples\); import its rows again as new samples\?",
        html,
    )
    assert 'name="start" value="again"' in html and "Start import" not in html
    assert ImportJob.objects.count() == 1
    # The confirm posts the same mapping again, with the explicit answer.
    response = client.post(url, {"text_field": "text", "start": "again"})
    job = ImportJob.objects.exclude(pk=first.pk).get()
    assert response.status_code == 302
    assert response["Location"] == reverse("import_job", args=[project.pk, job.pk])
    assert job.content_sha256 == first.content_sha256


def test_the_mapping_step_shows_skip_without_an_id_field_as_a_problem(client, project, bob):
    client.force_login(bob)
    staged = client.post(
        reverse("import_samples", args=[project.pk]), {"file": SimpleUploadedFile("a.csv", SEMI)}
    )
    url = reverse("import_map", args=[project.pk, staged["Location"].rstrip("/").split("/")[-1]])
    response = client.post(url, {"text_field": "text", "on_duplicate": "skip", "start": "1"})
    assert response.status_code == 422
    assert "on_duplicate=skip needs an id field" in response.content.decode()
    assert not ImportJob.objects.exists()
