"""The import API's options (format, encoding, delimiter, on_duplicate, metadata_fields) and its limits."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile
from django.test import override_settings

from projects import services
from projects.models import ImportJob, Sample
from tests.conftest import token_client, wait_for


def post(client, project, content: bytes, name="s.csv", **fields):
    form = {"text_field": "text", **fields, "file": SimpleUploadedFile(name, content)}
    return client.post(f"/api/projects/{project.pk}/imports/", form, format="multipart")


def finished(job_id: int) -> ImportJob:
    def check():
        job = ImportJob.objects.get(pk=job_id)
        return job if job.finished else None

    return wait_for(check, timeout=60, what=f"import {job_id}")


def test_the_api_takes_every_import_option_and_reports_duplicates(worker, project, bob):
    client = token_client(bob)
    first = post(client, project, b"id;text;lang\n1;hola;es\n", id_field="id")
    assert first.status_code == 201, first.json()
    finished(first.json()["id"])
    body = "id;text;lang;junk\n1;hola otra vez;es;x\n2;caf\xe9;fr;y\n".encode("latin-1")
    response = post(
        client,
        project,
        body,
        name="more.txt",
        format="csv",
        encoding="latin-1",
        delimiter=";",
        id_field="id",
        on_duplicate="skip",
        metadata_fields="lang",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["options"]["on_duplicate"] == "skip"
    job = finished(response.json()["id"])
    assert job.status == "done", job.errors
    shown = client.get(f"/api/imports/{job.pk}/").json()
    assert (shown["imported"], shown["skipped"], shown["updated"]) == (1, 1, 0)
    assert shown["report"] == "Imported 1 sample; 1 duplicate skipped"
    got = list(Sample.objects.filter(project=project).values_list("external_id", "text", "fields"))
    assert got == [("1", "hola", {"id": "1", "lang": "es"}), ("2", "café", {"lang": "fr"})]


def test_a_failed_import_lists_its_errors_as_objects(worker, project, bob):
    client = token_client(bob)
    response = post(client, project, b'{"text": "ok"}\n{"text": oops}\n', name="s.jsonl")
    job = client.get(f"/api/imports/{finished(response.json()['id']).pk}/").json()
    assert job["status"] == "failed"
    assert job["errors"] == [{"message": "line 2: invalid JSON (Expecting value at column 10)", "line": 2}]
    assert not Sample.objects.filter(project=project).exists()


def test_an_unknown_option_value_is_a_400_naming_the_field(project, bob):
    client = token_client(bob)
    for field, value in (
        ("format", "xlsx"),
        ("on_duplicate", "merge"),
        ("delimiter", "#"),
        ("encoding", "x"),
    ):
        response = post(client, project, b"text\na\n", **{field: value})
        assert response.status_code == 400
        assert response.json()["field"] == field, response.json()
    assert not ImportJob.objects.exists()


@override_settings(CHORUS_MAX_UPLOAD_BYTES=100)
def test_a_file_over_the_size_limit_is_refused_before_processing(project, bob):
    response = post(token_client(bob), project, b"text\n" + b"x" * 200 + b"\n")
    assert response.status_code == 400
    assert response.json() == {
        "message": "the file is 206 bytes, more than the limit of 100",
        "field": "file",
    }
    assert not ImportJob.objects.exists()


def test_a_large_upload_streams_to_a_temporary_file_not_memory(project, bob, monkeypatch, settings):
    seen = []
    real = services.start_import

    def spy(**kwargs):
        seen.append(type(kwargs["upload"]))
        return real(**kwargs)

    monkeypatch.setattr(services, "start_import", spy)
    body = b"text\n" + b"a fairly long line of text\n" * (settings.FILE_UPLOAD_MAX_MEMORY_SIZE // 20)
    response = post(token_client(bob), project, body)
    assert response.status_code == 201, response.json()
    assert seen == [TemporaryUploadedFile]
    assert ImportJob.objects.get().file.size == len(body)
