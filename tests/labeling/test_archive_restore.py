"""Restoring a project archive from the API and the browser: the worker makes the new project, with
progress; a broken archive is refused naming the file and line at fault, and nothing is made."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from labeling import export, restore_jobs, services
from labeling.models import LabelModelRun, RestoreJob
from projects import services as project_services
from projects.models import Adjudication, Annotation, Comment, Project, Sample
from tests.conftest import (
    add_member,
    make_project,
    make_samples,
    token_client,
    wait_for,
    wait_for_idle_worker,
)
from tests.labeling.test_export_files import GOLD, SPLITS, TEXTS, build_project, built


def _stats(run: LabelModelRun):
    return [{k: v for k, v in s.items() if k not in ("lf", "version")} for s in run.lf_stats]


def _run_of_all_three(project) -> LabelModelRun:
    """The finished run over the project's three LFs, once the worker has applied them all and refit."""

    def done():
        wait_for_idle_worker(timeout=120)
        run = export.latest_run(project)
        return run if run is not None and len(run.lf_versions) == 3 else None

    return wait_for(done, timeout=180, interval=1.0, what="a run over the three LFs")


def test_an_archive_round_trips_through_the_api_and_the_worker(worker, alice, bob, charlie, dana):
    project = make_project(alice, name="Comments", labels=("HAM", "SPAM"))
    samples = make_samples(project, TEXTS, splits=SPLITS, gold=GOLD)
    add_member(project, charlie, "annotator")
    add_member(project, dana, "annotator")
    project_services.annotate(project=project, sample=samples[6], user=charlie, label=0)
    project_services.annotate(project=project, sample=samples[6], user=dana, label=1)
    project_services.adjudicate(project=project, sample=samples[6], user=alice, label=1)
    project_services.add_comment(project=project, sample=samples[6], user=charlie, text="an ad, I think 🎵")
    for name, kind, label, config in (
        ("my", "regex", "SPAM", {"pattern": "my"}),
        ("song", "keyword", "HAM", {"keywords": ["song", "love"]}),
        ("channel", "keyword", "SPAM", {"keywords": ["channel", "free"]}),
    ):
        services.create_lf(project=project, user=alice, name=name, kind=kind, label=label, config=config)
    run = _run_of_all_three(project)

    owner = token_client(alice)
    queued = owner.post(f"/api/projects/{project.pk}/exports/", {"format": "archive"}, format="json").json()
    done = wait_for(
        lambda: (j := owner.get(f"/api/exports/{queued['id']}/").json())["status"] == "done" and j,
        timeout=60,
        what="the archive export",
    )
    archive_bytes = b"".join(owner.get(done["download"]).streaming_content)

    # Bob, who is not in the project, restores it: he becomes the new project's admin.
    client = token_client(bob)
    response = client.post(
        "/api/projects/restore/",
        {"file": SimpleUploadedFile("comments.chorus.zip", archive_bytes), "name": "Comments again"},
    )
    assert response.status_code == 201, response.json()
    job_id = response.json()["id"]
    body = wait_for(
        lambda: (j := client.get(f"/api/restores/{job_id}/").json())["status"] in ("done", "failed") and j,
        timeout=90,
        what="the restore",
    )
    assert body["status"] == "done", body["errors"]
    assert (body["processed"], body["total"], body["errors"]) == (8, 8, [])
    copy = Project.objects.get(pk=body["project"])
    assert copy.name == "Comments again" and copy.memberships.get(user=bob).role == "admin"
    assert token_client(charlie).get(f"/api/restores/{job_id}/").status_code == 404

    fields = (
        "row",
        "external_id",
        "text",
        "fields",
        "split",
        "gold_label",
        "queued",
        "disputed",
        "hand_labels",
    )
    assert list(Sample.objects.filter(project=copy).values_list(*fields)) == list(
        Sample.objects.filter(project=project).values_list(*fields)
    )
    labels = ("sample__row", "source", "annotator__username", "label")
    assert sorted(Annotation.objects.filter(project=copy).values_list(*labels), key=str) == sorted(
        Annotation.objects.filter(project=project).values_list(*labels), key=str
    )
    adjudication = Adjudication.objects.get(project=copy)
    assert (adjudication.sample.row, adjudication.label, adjudication.reviewer.username) == (6, 1, "alice")
    comment = Comment.objects.get(project=copy)
    assert (comment.sample.row, comment.text, comment.author.username) == (6, "an ad, I think 🎵", "charlie")

    # The worker applies the restored LFs and refits with the same seed: the same figures.
    again = _run_of_all_three(copy)
    assert _stats(again) == _stats(run)
    assert np.array_equal(again.probability_array(), run.probability_array())


def _rewritten(path, member: str, text: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            target.writestr(item, text if item.filename == member else source.read(item.filename))
    return out.getvalue()


def _restore(user, content: bytes, name="x.chorus.zip") -> RestoreJob:
    job = restore_jobs.start_restore(user=user, upload=SimpleUploadedFile(name, content))
    restore_jobs.run(job.pk)  # as the worker would
    return RestoreJob.objects.get(pk=job.pk)


def test_a_broken_archive_fails_naming_the_file_and_line_and_makes_nothing(alice, bob, charlie):
    project, _ = build_project(alice, charlie)
    path = built(project, alice, "archive").file.path
    before = Project.objects.count()
    annotation = {
        "external_id": Sample.objects.filter(project=project).first().external_id,
        "annotator": "charlie",
        "source": "human",
        "label": "MAYBE",
        "reason": "",
    }
    job = _restore(bob, _rewritten(path, "annotations.jsonl", "\n" + json.dumps(annotation) + "\n"))
    assert job.status == "failed" and job.project is None
    assert job.errors == [
        {
            "message": "annotations.jsonl line 2: the label 'MAYBE' is not one of the archive's classes (HAM, SPAM)",
            "line": 2,
            "field": "annotations.jsonl",
        }
    ]
    job = _restore(
        bob,
        _rewritten(
            path,
            "samples.jsonl",
            '{"external_id": "a", "text": "", "split": "train", "fields": {}, "gold_label": null}\n',
        ),
    )
    assert job.status == "failed"
    assert job.errors[0]["message"] == "samples.jsonl: line 1: the text field 'text' is empty"
    job = _restore(bob, _rewritten(path, "comments.jsonl", '{"external_id": "nope", "text": "hi"}\n'))
    assert job.errors[0]["message"] == "comments.jsonl line 1: the sample 'nope' is not in samples.jsonl"
    assert Project.objects.count() == before


def test_a_file_that_is_not_an_archive_is_refused_in_the_request(bob):
    client = token_client(bob)
    response = client.post("/api/projects/restore/", {"file": SimpleUploadedFile("a.csv", b"text\nhello\n")})
    assert response.status_code == 400
    assert response.json() == {
        "message": "the file is not a Chorus archive (not a zip file)",
        "field": "file",
    }
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as z:
        z.writestr("samples.csv", "text\nhello\n")
    response = client.post("/api/projects/restore/", {"file": SimpleUploadedFile("a.zip", plain.getvalue())})
    assert response.status_code == 400
    assert "has no chorus-archive.json: it is not a Chorus archive" in response.json()["message"]
    assert not RestoreJob.objects.exists()


def test_the_restore_page_uploads_then_shows_the_new_project(client, alice, bob, charlie, dana):
    project, _ = build_project(alice, charlie)
    content = open(built(project, alice, "archive").file.path, "rb").read()
    client.force_login(bob)
    page = client.get(reverse("restore_project"))
    assert page.status_code == 200 and 'name="file"' in page.content.decode()
    response = client.post(reverse("restore_project"), {"file": SimpleUploadedFile("c.chorus.zip", content)})
    assert response.status_code == 302
    job = RestoreJob.objects.get(created_by=bob)
    assert response["Location"] == reverse("restore_job", args=[job.pk])
    waiting = client.get(response["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert waiting.lstrip().startswith('<section id="restore-progress"') and "Waiting for a worker" in waiting
    restore_jobs.run(job.pk)
    job.refresh_from_db()
    html = client.get(response["Location"]).content.decode()
    # Named apart from the original, which is still in the project list.
    assert f"Restored Comments (restored {timezone.localdate().isoformat()}): 8 samples" in html
    assert reverse("project_detail", args=[job.project.pk]) in html
    assert 'hx-trigger="every 1s"' not in html  # a finished job stops polling
    client.force_login(dana)
    assert client.get(response["Location"]).status_code == 404
    refused = client.post(reverse("restore_project"), {"file": SimpleUploadedFile("c.csv", b"text\nx\n")})
    assert refused.status_code == 422 and "not a Chorus archive" in refused.content.decode()


def _with_lfs(path, *extra: dict) -> bytes:
    with zipfile.ZipFile(path) as z:
        lfs = json.loads(z.read("lfs.json"))
    return _rewritten(path, "lfs.json", json.dumps([*lfs, *extra]))


def _service_lf(name: str, url: str, *later: dict, active: bool = True) -> dict:
    versions = [{"number": 1, "kind": "service", "label": None, "config": {"url": url, "batch_size": 16}}]
    versions += [{"number": 2 + i, **v} for i, v in enumerate(later)]
    return {"name": name, "active": active, "current": len(versions), "versions": versions}


def test_a_service_lf_on_a_host_not_allowed_here_is_restored_inactive_and_named(alice, bob, charlie, client):
    project, _ = build_project(alice, charlie)
    path = built(project, alice, "archive").file.path
    content = _with_lfs(
        path,
        _service_lf("model", "https://models.example.com/label"),
        # Its first version's host is not allowed, its current one is a keyword: active, applied, no notice.
        _service_lf(
            "was a model",
            "http://old-models.example.com/label",
            {"kind": "keyword", "label": "SPAM", "config": {"keywords": ["prize"]}},
        ),
    )
    job = _restore(bob, content)
    assert job.status == "done", job.errors
    copy = job.project
    assert job.errors == []
    assert job.notices == [
        {
            "message": "the labeling function 'model' was restored inactive and not applied: the host "
            "'models.example.com' is not allowed for services (CHORUS_SERVICE_HOSTS; allowed: 127.0.0.1). "
            "Allow the host and activate it, or edit its URL",
            "lf": "model",
            "host": "models.example.com",
        }
    ]
    # Nothing else is lost: every sample, hand label and LF (with every version) is there.
    assert Sample.objects.filter(project=copy).count() == 8
    assert (
        Annotation.objects.filter(project=copy).count() == Annotation.objects.filter(project=project).count()
    )
    lfs = {lf.name: lf for lf in copy.lfs.select_related("current")}
    assert sorted(lfs) == ["channel", "model", "my", "song", "was a model"]
    assert [lf.name for lf in copy.lfs.filter(active=True)] == ["my", "song", "channel", "was a model"]
    model = lfs["model"].current
    assert (model.kind, model.config["url"], model.config["batch_size"]) == (
        "service",
        "https://models.example.com/label",
        16,
    )
    assert model.status == "failed" and model.votes is None
    assert model.message.startswith("not applied: the host 'models.example.com' is not allowed")
    assert lfs["was a model"].current.status == "queued" and lfs["was a model"].current.number == 2
    assert lfs["was a model"].versions.get(number=1).status == "failed"

    # The API and the restore page say the same.
    body = token_client(bob).get(f"/api/restores/{job.pk}/").json()
    assert body["status"] == "done" and body["notices"] == job.notices
    client.force_login(bob)
    html = client.get(reverse("restore_job", args=[job.pk])).content.decode()
    assert "1 labeling function restored inactive, not applied" in html
    assert "the host &#x27;models.example.com&#x27; is not allowed for services" in html


def test_a_restored_service_lf_is_activated_only_once_its_host_is_allowed(
    alice, bob, charlie, client, settings, django_capture_on_commit_callbacks
):
    project, _ = build_project(alice, charlie)
    path = built(project, alice, "archive").file.path
    job = _restore(bob, _with_lfs(path, _service_lf("model", "https://models.example.com/label")))
    lf = job.project.lfs.get(name="model")
    owner = token_client(bob)
    refused = owner.patch(f"/api/lfs/{lf.pk}/", {"active": True}, format="json")
    assert refused.status_code == 400
    assert refused.json()["field"] == "active"
    assert (
        "“model” cannot be activated: the host 'models.example.com' is not allowed"
        in refused.json()["message"]
    )
    lf.refresh_from_db()
    assert not lf.active and lf.current.status == "failed"
    client.force_login(bob)
    switch = reverse("lf_active", args=[job.project.pk, lf.pk])
    html = client.post(switch, {"active": "1"}, HTTP_HX_REQUEST="true").content.decode()
    assert (
        '<p class="error" role="alert">“model” cannot be activated: the host &#x27;models.example.com&#x27;'
        in html
    )
    lf.refresh_from_db()
    assert not lf.active

    settings.CHORUS_SERVICE_HOSTS = ["127.0.0.1", "models.example.com"]
    with django_capture_on_commit_callbacks() as queued:
        response = owner.patch(f"/api/lfs/{lf.pk}/", {"active": True}, format="json")
    assert response.status_code == 200, response.json()
    lf.refresh_from_db()
    assert lf.active and (lf.current.status, lf.current.message) == ("queued", "")
    assert queued, "the application of the now allowed service is queued"


def test_a_malformed_service_lf_still_fails_the_restore(alice, bob, charlie):
    project, _ = build_project(alice, charlie)
    path = built(project, alice, "archive").file.path
    before = Project.objects.count()
    job = _restore(bob, _with_lfs(path, _service_lf("model", "ftp://models.example.com/label")))
    assert job.status == "failed" and job.project is None and job.notices == []
    assert job.errors == [
        {"message": "give the service's URL, starting with http:// or https://", "field": "config"}
    ]
    assert Project.objects.count() == before


def test_gold_checks_and_the_check_settings_survive_a_restore(alice, bob, charlie):
    from projects import checks

    project, _ = build_project(alice, charlie)
    project_services.update_workflow(project=project, check_every=4)
    project.annotators_as_sources = True
    project.save(update_fields=["annotators_as_sources"])
    with_gold = list(Sample.objects.filter(project=project, gold_label__isnull=False).order_by("row")[:2])
    checks.mark_checks(project=project, items=[(s, None) for s in with_gold], by=alice)
    job = _restore(bob, open(built(project, alice, "archive").file.path, "rb").read())
    assert job.status == "done", job.errors
    copy = job.project
    assert (copy.check_every, copy.annotators_as_sources) == (4, True)
    restored = {
        s.external_id: s.check_label for s in Sample.objects.filter(project=copy, check_label__isnull=False)
    }
    assert restored == {s.external_id: s.gold_label for s in with_gold}
