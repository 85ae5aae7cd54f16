"""An upload over CHORUS_MAX_UPLOAD_BYTES is refused from its Content-Length, before its body is read."""

import io
import json

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import RequestFactory, override_settings
from django.urls import reverse

from projects.models import ImportJob
from projects.uploads import MULTIPART_SLACK, RefuseOversizedUploads
from tests.conftest import make_project, token_client

LIMIT = 1000
BIG = b"text\n" + b"x" * (LIMIT + MULTIPART_SLACK) + b"\n"


class _Unreadable(io.RawIOBase):
    def read(self, *args):
        raise AssertionError("the body was read")

    readline = readinto = read


@override_settings(CHORUS_MAX_UPLOAD_BYTES=LIMIT)
def test_the_middleware_answers_413_without_reading_the_body(alice):
    request = RequestFactory().post(
        "/api/projects/1/imports/",
        data=b"",
        content_type="text/csv",
        CONTENT_LENGTH=str(10 * MULTIPART_SLACK),
    )
    request.environ["wsgi.input"] = _Unreadable()
    request._stream = _Unreadable()
    response = RefuseOversizedUploads(lambda r: r.body)(request)
    assert response.status_code == 413
    assert json.loads(response.content)["message"].startswith(f"the upload is {10 * MULTIPART_SLACK:,} bytes")


@override_settings(CHORUS_MAX_UPLOAD_BYTES=LIMIT)
def test_the_api_refuses_an_oversized_upload_with_413_and_a_message(bob):
    project = make_project(bob, labels=("HAM", "SPAM"))
    response = token_client(bob).post(
        f"/api/projects/{project.pk}/imports/",
        {"file": SimpleUploadedFile("big.csv", BIG), "text_field": "text"},
    )
    assert response.status_code == 413
    body = response.json()
    assert body["field"] == "file"
    assert f"more than the limit of {LIMIT:,}; nothing was read" in body["message"]
    assert not ImportJob.objects.exists()


def test_the_import_page_refuses_an_oversized_upload_with_a_readable_page(client, bob, settings, tmp_path):
    # One way of overriding settings per test: override_settings beside the settings fixture leaks.
    settings.MEDIA_ROOT, settings.CHORUS_MAX_UPLOAD_BYTES = tmp_path, LIMIT
    project = make_project(bob, labels=("HAM", "SPAM"))
    client.force_login(bob)
    page = reverse("import_samples", args=[project.pk])
    response = client.post(
        page, {"file": SimpleUploadedFile("big.csv", BIG)}, HTTP_REFERER=f"http://testserver{page}"
    )
    assert response.status_code == 413
    html = response.content.decode()
    assert f"more than the limit of {LIMIT:,}; nothing was read" in html
    assert f'href="http://testserver{page}"' in html
    assert not (tmp_path / "uploads").exists()


@override_settings(CHORUS_MAX_UPLOAD_BYTES=LIMIT)
def test_a_file_just_over_the_limit_is_still_refused_after_streaming(bob):
    # Within the multipart slack the length says nothing certain; the stored file's size decides.
    project = make_project(bob, labels=("HAM", "SPAM"))
    response = token_client(bob).post(
        f"/api/projects/{project.pk}/imports/",
        {"file": SimpleUploadedFile("a.csv", b"text\n" + b"x" * LIMIT), "text_field": "text"},
    )
    assert response.status_code == 400
    assert response.json()["message"] == f"the file is {LIMIT + 5:,} bytes, more than the limit of {LIMIT:,}"
