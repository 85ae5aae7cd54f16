"""The import pages with the new choices: encoding on step 1; delimiter, duplicates and kept fields on step 2."""

import gzip

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from projects.models import ImportJob, Sample
from tests.conftest import make_samples, wait_for


def _stage(client, project, name, content, **fields):
    response = client.post(
        reverse("import_samples", args=[project.pk]), {"file": SimpleUploadedFile(name, content), **fields}
    )
    assert response.status_code == 302, response.content.decode()[:800]
    return response["Location"].rstrip("/").split("/")[-1]


def _finished(project):
    def check():
        job = ImportJob.objects.filter(project=project).first()
        return job if job and job.finished else None

    return wait_for(check, timeout=60, what="the import")


def test_a_latin1_file_is_previewed_and_imported_with_the_chosen_encoding(worker, client, project, bob):
    client.force_login(bob)
    content = "id;text;lang\n1;crème brûlée;fr\n2;jalapeño;es\n".encode("latin-1")
    token = _stage(client, project, "menu.csv", content, encoding="latin-1")
    page = client.get(reverse("import_map", args=[project.pk, token])).content.decode()
    assert "crème brûlée" in page and 'name="delimiter"' in page and 'name="on_duplicate"' in page
    response = client.post(
        reverse("import_map", args=[project.pk, token]),
        {
            "text_field": "text",
            "id_field": "id",
            "delimiter": ";",
            "metadata_shown": "1",
            "metadata_fields": ["lang"],
            "start": "1",
        },
    )
    assert response.status_code == 302
    job = _finished(project)
    assert job.status == "done", job.errors
    got = list(Sample.objects.filter(project=project).values_list("text", "fields"))
    assert got == [("crème brûlée", {"lang": "fr"}), ("jalapeño", {"lang": "es"})]


def test_step_one_says_when_the_encoding_is_wrong(client, project, bob):
    client.force_login(bob)
    response = client.post(
        reverse("import_samples", args=[project.pk]),
        {"file": SimpleUploadedFile("menu.csv", "text\ncrème\n".encode("latin-1"))},
    )
    assert response.status_code == 422
    assert "are not valid utf-8" in response.content.decode()
    assert "choose the file&#x27;s encoding" in response.content.decode()


def test_step_one_says_once_that_a_file_is_empty_or_missing(client, project, bob):
    client.force_login(bob)
    url = reverse("import_samples", args=[project.pk])
    empty = client.post(url, {"file": SimpleUploadedFile("empty.csv", b"")}).content.decode()
    assert empty.count("the file is empty") == 1 and "The submitted file is empty" not in empty
    missing = client.post(url, {}).content.decode()
    assert (
        "choose a CSV, TSV, JSON, JSONL or Parquet file" in missing
        and "This field is required" not in missing
    )


def test_skipped_duplicates_are_reported_on_the_job_page(worker, client, project, bob):
    make_samples(project, ["old one", "old two"])
    existing = list(Sample.objects.filter(project=project).values_list("external_id", flat=True))
    client.force_login(bob)
    rows = "".join(f"{i},new {i}\n" for i in [*existing, "x1"])
    token = _stage(client, project, "more.csv.gz", gzip.compress(f"id,text\n{rows}".encode()))
    client.post(
        reverse("import_map", args=[project.pk, token]),
        {"text_field": "text", "id_field": "id", "on_duplicate": "skip", "start": "1"},
    )
    job = _finished(project)
    assert job.status == "done", job.errors
    page = client.get(reverse("import_job", args=[project.pk, job.pk])).content.decode()
    assert "Imported 1 sample (0 hand labels); 2 duplicates skipped." in page
