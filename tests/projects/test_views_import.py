"""The import pages: upload once, map fields with a preview, the job runs in the real worker, progress polls."""

import json
import re

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from projects.models import Annotation, ImportJob, Sample
from tests.conftest import wait_for

HTMX = {"HTTP_HX_REQUEST": "true"}

CSV = (
    "\ufeffCOMMENT_ID,CONTENT,CLASS,SET\n"
    "c1,Check out my channel,1,train\n"
    "c2,Great song,0,dev\n"
    'c3,"Subscribe, please",1,test\n'
    "c4,Love this,0,train\n"
    "c5,plz visit my site,1,train\n"
    "c6,Nice voice,0,dev\n"
).encode()


def _upload(client, project, name="comments.csv", content=CSV):
    return client.post(
        reverse("import_samples", args=[project.pk]), {"file": SimpleUploadedFile(name, content)}
    )


def _token(response) -> str:
    assert response.status_code == 302, response.content.decode()[:500]
    return response["Location"].rstrip("/").split("/")[-1]


def test_step_one_stores_the_upload_once_and_step_two_previews_it(client, project, bob, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(bob)
    token = _token(_upload(client, project))
    staged = list((tmp_path / "uploads").iterdir())
    assert [p.name for p in staged] == [token]
    response = client.get(reverse("import_map", args=[project.pk, token]))
    html = response.content.decode()
    assert response.status_code == 200
    assert response.context["preview"].columns == ["COMMENT_ID", "CONTENT", "CLASS", "SET"]
    assert len(response.context["preview"].rows) == 5
    assert "Subscribe, please" in html and "plz visit my site" in html and "Nice voice" not in html
    # Column names that say what they are are preselected; the user can change them.
    assert re.search(r'<option value="CONTENT" selected>', html)
    assert re.search(r'<option value="COMMENT_ID" selected>', html)


def test_choosing_the_label_field_lists_its_values_with_a_guessed_class(client, project, bob):
    client.force_login(bob)
    token = _token(_upload(client, project))
    response = client.get(reverse("import_map", args=[project.pk, token]), {"label_field": "CLASS"}, **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<fieldset id="label-map"')
    values = re.findall(r'name="map_value" value="([^"]*)"', html)
    assert values == ["0", "1"]
    chosen = re.findall(r'<option value="(\w+)" selected>', html)
    assert chosen == ["HAM", "SPAM"]


def test_the_two_step_import_runs_in_the_worker_and_the_job_page_reports_it(worker, client, project, bob):
    client.force_login(bob)
    token = _token(_upload(client, project))
    response = client.post(
        reverse("import_map", args=[project.pk, token]),
        {
            "text_field": "CONTENT",
            "id_field": "COMMENT_ID",
            "label_field": "CLASS",
            "split_field": "SET",
            "map_value": ["0", "1"],
            "map_class": ["HAM", "SPAM"],
            "start": "1",
        },
    )
    job = ImportJob.objects.get(project=project)
    assert response.status_code == 302
    assert response["Location"] == reverse("import_job", args=[project.pk, job.pk])
    assert job.options["label_map"] == {"0": "HAM", "1": "SPAM"}
    # The staged upload is handed over to the job and not kept twice; its mapping step's address (Back in the
    # browser) leads to the import page, which says where the import went.
    back = client.get(reverse("import_map", args=[project.pk, token]), follow=True)
    assert back.redirect_chain == [(reverse("import_samples", args=[project.pk]), 302)]
    page = back.content.decode()
    assert "comments.csv was imported already" in page
    assert f'<a href="{reverse("import_job", args=[project.pk, job.pk])}">see its import</a>' in page

    url = reverse("import_job", args=[project.pk, job.pk])
    first = client.get(url, **HTMX).content.decode()
    if 'hx-trigger="every 1s"' not in first:  # the worker may already be done
        assert "Imported 6 samples" in first
    wait_for(lambda: ImportJob.objects.get(pk=job.pk).finished, what="the import job")
    fragment = client.get(url, **HTMX).content.decode()
    assert fragment.lstrip().startswith('<section id="import-progress"')
    assert "Imported 6 samples (6 hand labels)." in fragment
    assert "every 1s" not in fragment  # polling stops once the job is done

    samples = {s.external_id: s for s in Sample.objects.filter(project=project)}
    assert sorted(samples) == ["c1", "c2", "c3", "c4", "c5", "c6"]
    assert samples["c3"].text == "Subscribe, please" and samples["c3"].split == "test"
    assert samples["c1"].gold_label == 1 and samples["c2"].gold_label == 0
    assert Annotation.objects.filter(project=project, source="import").count() == 6


def test_a_failed_import_lists_each_error_with_its_line_and_field(worker, client, project, alice):
    client.force_login(alice)
    bad = b"id,text,label\n1,fine,HAM\n2,,SPAM\n3,odd,EGGS\n"
    token = _token(_upload(client, project, "bad.csv", bad))
    response = client.post(
        reverse("import_map", args=[project.pk, token]),
        {
            "text_field": "text",
            "id_field": "id",
            "label_field": "label",
            "map_value": ["EGGS", "HAM", "SPAM"],
            "map_class": ["", "HAM", "SPAM"],
            "start": "1",
        },
    )
    # An unmapped value is refused before any job starts.
    assert response.status_code == 422
    assert "Choose a class for the label value &#x27;EGGS&#x27;" in response.content.decode()
    assert not ImportJob.objects.exists()
    response = client.post(
        reverse("import_map", args=[project.pk, token]),
        {"text_field": "text", "id_field": "id", "start": "1"},
    )
    job = ImportJob.objects.get()
    wait_for(lambda: ImportJob.objects.get(pk=job.pk).finished, what="the import job")
    page = client.get(reverse("import_job", args=[project.pk, job.pk])).content.decode()
    assert "The import failed; nothing was imported." in page
    assert "line 3" in page and "field text" in page
    assert not Sample.objects.filter(project=project).exists()


def test_step_two_without_a_text_field_says_so_in_place(client, project, bob):
    client.force_login(bob)
    token = _token(_upload(client, project))
    response = client.post(reverse("import_map", args=[project.pk, token]), {"text_field": "", "start": "1"})
    assert response.status_code == 422
    assert "choose the field that holds the text" in response.content.decode()
    assert not ImportJob.objects.exists()


def test_a_file_of_unknown_kind_is_refused_in_step_one(client, project, bob):
    client.force_login(bob)
    response = _upload(client, project, "notes.txt", b"hello\n")
    assert response.status_code == 422
    assert "cannot tell the format of" in response.content.decode()


def test_an_empty_file_is_refused_in_step_one(client, project, bob):
    client.force_login(bob)
    response = _upload(client, project, "empty.csv", b"")
    assert response.status_code == 422
    assert "the file is empty" in response.content.decode()


def test_jsonl_keys_become_the_columns(client, project, bob):
    client.force_login(bob)
    lines = [{"text": "hi", "y": 0}, {"text": "buy", "y": 1, "src": "web"}]
    body = "\n".join(json.dumps(line) for line in lines).encode()
    token = _token(_upload(client, project, "rows.jsonl", body))
    response = client.get(reverse("import_map", args=[project.pk, token]))
    assert response.context["preview"].columns == ["text", "y", "src"]


def test_another_session_cannot_use_my_staged_upload(client, project, bob, alice):
    client.force_login(bob)
    token = _token(_upload(client, project))
    client.logout()
    client.force_login(alice)
    response = client.get(reverse("import_map", args=[project.pk, token]), follow=True)
    assert response.redirect_chain == [(reverse("import_samples", args=[project.pk]), 302)]
    page = response.content.decode()
    assert "That upload is no longer waiting for its field mapping" in page
    assert "comments.csv" not in page
    assert "First rows" not in page


def test_an_upload_that_is_gone_sends_htmx_and_a_second_start_to_the_import_page(
    worker, client, project, bob
):
    client.force_login(bob)
    token = _token(_upload(client, project))
    url = reverse("import_map", args=[project.pk, token])
    start = {"text_field": "CONTENT", "id_field": "COMMENT_ID", "label_field": "", "start": "1"}
    assert client.post(url, start).status_code == 302
    # A page the browser kept from before the import: its label map (htmx) and its Start button again.
    fragment = client.get(url, {"label_field": "CLASS"}, **HTMX)
    assert fragment.status_code == 200
    assert fragment["HX-Redirect"] == reverse("import_samples", args=[project.pk])
    again = client.post(url, start)
    assert again.status_code == 302 and again["Location"] == reverse("import_samples", args=[project.pk])
    assert ImportJob.objects.filter(project=project).count() == 1
    wait_for(lambda: ImportJob.objects.get(project=project).finished, what="the import job")


def test_annotators_and_outsiders_cannot_reach_the_mapping_step(client, project, bob, charlie, eve):
    client.force_login(bob)
    token = _token(_upload(client, project))
    url = reverse("import_map", args=[project.pk, token])
    client.force_login(charlie)
    assert client.get(url).status_code == 403
    client.force_login(eve)
    assert client.get(url).status_code == 404


def test_the_job_page_of_another_project_is_not_found(client, project, alice, bob):
    from tests.conftest import make_project

    other = make_project(alice, name="Other")
    job = ImportJob.objects.create(project=other, filename="x.csv", options={"text_field": "text"})
    client.force_login(alice)
    assert client.get(reverse("import_job", args=[project.pk, job.pk])).status_code == 404


def test_a_running_job_polls_every_second(client, project, bob):
    job = ImportJob.objects.create(
        project=project,
        filename="x.csv",
        options={"text_field": "text"},
        status="running",
        processed=40,
        total=100,
    )
    client.force_login(bob)
    fragment = client.get(reverse("import_job", args=[project.pk, job.pk]), **HTMX).content.decode()
    assert 'hx-trigger="every 1s"' in fragment
    # The check is the first half of the bar (its total an estimate until it ends), the write the second.
    assert "40 rows of about 100" in fragment
    assert 'value="20"' in fragment
    ImportJob.objects.filter(pk=job.pk).update(processed=100, written=50)
    fragment = client.get(reverse("import_job", args=[project.pk, job.pk]), **HTMX).content.decode()
    assert "Writing samples: 50 rows of 100" in fragment
    assert 'value="75"' in fragment


def test_a_preselected_label_field_shows_its_mapping_at_once(client, project, bob):
    client.force_login(bob)
    token = _token(_upload(client, project))
    html = client.get(reverse("import_map", args=[project.pk, token])).content.decode()
    assert re.search(r'<option value="CLASS" selected>', html)
    assert re.findall(r'name="map_value" value="([^"]*)"', html) == ["0", "1"]


def test_a_label_field_whose_mapping_was_never_shown_is_not_imported_on_a_guess(client, project, bob):
    client.force_login(bob)
    token = _token(_upload(client, project))
    response = client.post(
        reverse("import_map", args=[project.pk, token]),
        {"text_field": "CONTENT", "label_field": "CLASS", "start": "1"},
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "Check which class each label value means" in html
    assert re.findall(r'name="map_value" value="([^"]*)"', html) == ["0", "1"]
    assert not ImportJob.objects.exists()


def test_a_field_over_the_csv_limit_is_refused_alike_in_preview_and_import(client, project, bob, settings):
    from projects import formats, services

    settings.CHORUS_MAX_TEXT_CHARS = 1000  # a field limit of 4,000 characters
    assert formats.csv_field_limit() == 4000
    # A metadata field and, on another file, the text itself; both just over the limit, on line 3.
    for column, content in (
        ("note", f"text,note\nfine,short\nalso fine,{'x' * 4001}\n"),
        ("text", f"text,note\nfine,short\n{'y' * 4001},short\n"),
    ):
        expected = (
            "line 3: this row cannot be read as CSV (a field is longer than 4,000 characters, the most one "
            "field may hold (is a quote left open?))"
        )
        client.force_login(bob)
        preview = _upload(client, project, "long.csv", content.encode())
        assert preview.status_code == 422, column
        assert expected.replace("'", "&#x27;") in preview.content.decode(), column
        job = services.start_import(
            project=project,
            user=bob,
            upload=SimpleUploadedFile("long.csv", content.encode()),
            options={"text_field": "text"},
        )
        services.run_import(job.pk)
        job.refresh_from_db()
        assert job.status == "failed", column
        assert [e["message"] for e in job.errors] == [expected], column
    assert not Sample.objects.filter(project=project).exists()


def test_a_field_between_the_csv_module_default_and_our_limit_previews_and_imports(client, project, bob):
    from projects import services

    # 200,000 characters: over the csv module's default of 131,072, under the limit of 400,000.
    content = f"text,note\nfine,{'z' * 200_000}\n".encode()
    client.force_login(bob)
    token = _token(_upload(client, project, "wide.csv", content))
    assert client.get(reverse("import_map", args=[project.pk, token])).status_code == 200
    job = services.start_import(
        project=project,
        user=bob,
        upload=SimpleUploadedFile("wide.csv", content),
        options={"text_field": "text"},
    )
    services.run_import(job.pk)
    job.refresh_from_db()
    assert job.status == "done", job.errors
    assert len(Sample.objects.get(project=project).fields["note"]) == 200_000


def test_the_failed_job_page_names_each_problem_line_once(worker, client, project, alice, settings):
    client.force_login(alice)
    limit = settings.CHORUS_MAX_TEXT_CHARS  # the worker's own settings: the default
    bad = b"COMMENT_ID,CONTENT\nc1,fine\nc1,again\nc3,\nc4," + b"x" * (limit + 1) + b"\n"
    token = _token(_upload(client, project, "bad.csv", bad))
    client.post(
        reverse("import_map", args=[project.pk, token]),
        {"text_field": "CONTENT", "id_field": "COMMENT_ID", "start": "1"},
    )
    job = ImportJob.objects.get()
    wait_for(lambda: ImportJob.objects.get(pk=job.pk).finished, what="the import job")
    page = client.get(reverse("import_job", args=[project.pk, job.pk])).content.decode()
    assert "The import failed" in page, page[-3000:]
    problems = page.split('<ul class="problems">')[1].split("</ul>")[0]
    items = [re.sub(r"<[^>]+>", "", li).strip() for li in re.findall(r"<li>(.*?)</li>", problems, re.S)]
    assert items == [
        "line 3 field COMMENT_ID duplicate id &#x27;c1&#x27; (first seen on line 2)",
        "line 4 field CONTENT the text field &#x27;CONTENT&#x27; is empty",
        f"line 5 field CONTENT the text has {limit + 1} characters, more than the limit of {limit}",
    ]
    # The API keeps each message whole, beside its line and field.
    job.refresh_from_db()
    assert job.errors[0] == {
        "message": "line 3: duplicate id 'c1' (first seen on line 2)",
        "line": 3,
        "field": "COMMENT_ID",
    }


def test_a_binary_file_is_refused_on_the_upload_page_without_asking_for_a_format(client, project, bob):
    client.force_login(bob)
    response = _upload(client, project, "comments.csv", b"\x89PNG\r\n\x1a\n" + bytes(200))
    html = response.content.decode()
    assert response.status_code == 422
    assert "the file is a PNG image, not CSV; upload the data itself as a CSV" in html
    # The page offers no format to choose, so the message does not ask for one.
    assert "format" not in html.split('id="id_file"')[1].split("</form>")[0].lower()
    assert not ImportJob.objects.exists()


def test_a_row_past_the_preview_that_cannot_be_read_sends_back_to_the_import_page_saying_why(
    client, project, bob, settings, tmp_path
):
    # The SMS Spam Collection saved as TSV: a text with an unbalanced quote, past the preview's rows, was a 500
    # when the mapping step read further for the label values and the id guess.
    settings.MEDIA_ROOT = tmp_path
    client.force_login(bob)
    rows = ["label\ttext"] + [f"ham\tmessage {i}" for i in range(300)] + ['spam\t"Free" entry" now\tx']
    token = _token(_upload(client, project, name="sms.tsv", content=("\n".join(rows) + "\n").encode()))
    response = client.get(reverse("import_map", args=[project.pk, token]), follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == reverse("import_samples", args=[project.pk])
    html = response.content.decode()
    assert "sms.tsv: line 302: this row cannot be read as CSV" in html
    assert not list((tmp_path / "uploads").iterdir())  # the upload is discarded: nothing half-kept
    # The label map asked for by htmx moves the whole page instead.
    token = _token(_upload(client, project, name="sms.tsv", content=("\n".join(rows) + "\n").encode()))
    fragment = client.get(reverse("import_map", args=[project.pk, token]), {"label_field": "label"}, **HTMX)
    assert fragment["HX-Redirect"] == reverse("import_samples", args=[project.pk])
