"""Exports built into files by a worker (Parquet, the label matrix, the project archive), and round trips:
an archive restored elsewhere refits to the same figures; Chorus's JSONL re-imports unchanged."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date
from io import StringIO

import numpy as np
import pyarrow.parquet as pq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from labeling import archive, export_jobs, services
from labeling.models import ExportJob, LabelModelRun
from projects import services as project_services
from projects.models import Annotation, ImportJob, Project, Sample
from tests.conftest import make_project, make_samples, token_client, wait_for
from tests.labeling.helpers import apply_and_refit

TEXTS = [
    "check out my channel 🎵",
    "great song",
    "my song, my rules",
    'nice, and\n"quoted"',
    "subscribe to my channel please",
    "love this song",
    "cafe\u0301 👩\u200d💻",
    "free prize call now",
]
SPLITS = ["train", "train", "dev", "dev", "train", "test", "dev", "test"]
GOLD = [1, 0, 1, 0, 1, 0, None, 1]


def build_project(owner, annotator, name="Comments"):
    project = make_project(owner, name=name, labels=("HAM", "SPAM"))
    samples = make_samples(project, TEXTS, splits=SPLITS, gold=GOLD)
    Sample.objects.filter(pk=samples[0].pk).update(fields={"likes": 3, "author": "ann"})
    project_services.annotate(project=project, sample=samples[1], user=annotator, label=0)
    services.create_lf(
        project=project, user=owner, name="my", kind="regex", label="SPAM", config={"pattern": "my"}
    )
    song = services.create_lf(
        project=project, user=owner, name="song", kind="keyword", label="HAM", config={"keywords": ["song"]}
    )
    services.update_lf(lf=song, user=owner, config={"keywords": ["song", "love"]})
    services.create_lf(
        project=project,
        user=owner,
        name="channel",
        kind="keyword",
        label="SPAM",
        config={"keywords": ["channel", "free"]},
    )
    return project, apply_and_refit(project)


def built(project, user, fmt, **options) -> ExportJob:
    job = export_jobs.start_export(project=project, user=user, fmt=fmt, options=options)
    export_jobs.build(job.pk)  # as the worker would (the db fixture never commits, so nothing is queued)
    job.refresh_from_db()
    assert job.status == "done", job.message
    return job


def test_the_label_matrix_has_int_votes_minus_one_abstain_and_lf_names_in_order(alice, charlie):
    project, run = build_project(alice, charlie)
    job = built(project, alice, "label_matrix")
    with zipfile.ZipFile(job.file.path) as z:
        matrix = np.load(io.BytesIO(z.read("label_matrix.npy")))
        names = json.loads(z.read("lf_names.json"))
        ids = json.loads(z.read("external_ids.json"))
    assert names == ["my", "song", "channel"]
    assert matrix.shape == (8, 3) and np.issubdtype(matrix.dtype, np.integer)
    assert set(np.unique(matrix)) <= {-1, 0, 1}
    assert ids == [f"s{i}" for i in range(8)]
    # "my": SPAM on the texts with the word; "song" v2 (song, love): HAM; "channel": SPAM.
    assert matrix[:, 0].tolist() == [1, -1, 1, -1, 1, -1, -1, -1]
    assert matrix[:, 1].tolist() == [-1, 0, 0, -1, -1, 0, -1, -1]
    assert matrix[:, 2].tolist() == [1, -1, -1, -1, 1, -1, -1, 1]


def test_parquet_holds_what_the_jsonl_export_holds(alice, charlie):
    project, run = build_project(alice, charlie)
    job = built(project, alice, "parquet")
    table = pq.read_table(job.file.path)
    assert job.run_id == run.pk and job.size == job.file.size
    assert table.column_names == [
        "sample_id",
        "external_id",
        "row",
        "text",
        "fields",
        "split",
        "predicted_label",
        "probability_HAM",
        "probability_SPAM",
        "confidence",
        "hand_label",
        "hand_labels",
    ]
    rows = table.to_pylist()
    assert [r["text"] for r in rows] == TEXTS
    assert json.loads(rows[0]["fields"]) == {"likes": 3, "author": "ann"}
    proba = run.probability_array()
    # Rows no LF votes on (3 and 6 here) have no probabilities: the model's prior is not a prediction.
    voted = [i for i, r in enumerate(rows) if r["probability_SPAM"] is not None]
    assert voted == [0, 1, 2, 4, 5, 7]
    assert [rows[i]["probability_SPAM"] for i in voted] == pytest.approx(proba[voted, 1].tolist(), abs=1e-6)
    assert [rows[i]["confidence"] for i in voted] == pytest.approx(
        proba[voted].max(axis=1).tolist(), abs=1e-6
    )
    assert rows[3]["confidence"] is None and rows[6]["confidence"] is None
    assert [(h["annotator"], h["source"], h["label"]) for h in rows[1]["hand_labels"]] == [
        (None, "import", "HAM"),
        ("charlie", "human", "HAM"),
    ]
    assert all(h["labeled_at"] for h in rows[1]["hand_labels"])


def test_parquet_options_pick_the_dev_split(alice, charlie):
    project, _ = build_project(alice, charlie)
    job = built(project, alice, "parquet", split="dev", only_gold=True)
    assert pq.read_table(job.file.path).column("external_id").to_pylist() == ["s2", "s3"]


def test_an_archive_restored_into_a_fresh_project_refits_to_the_same_figures(alice, bob, charlie):
    project, run = build_project(alice, charlie)
    job = built(project, alice, "archive")
    with zipfile.ZipFile(job.file.path) as z:
        lfs = json.loads(z.read("lfs.json"))
    assert [(lf["name"], [v["number"] for v in lf["versions"]]) for lf in lfs] == [
        ("my", [1]),
        ("song", [1, 2]),
        ("channel", [1]),
    ]
    copy = archive.restore(user=bob, path=job.file.path, name="Restored").project
    assert copy.pk != project.pk and copy.labels == project.labels and copy.seed == project.seed
    fields = ("row", "external_id", "text", "fields", "split", "gold_label")
    assert list(Sample.objects.filter(project=copy).values_list(*fields)) == list(
        Sample.objects.filter(project=project).values_list(*fields)
    )
    restored = Annotation.objects.filter(project=copy).values_list(
        "sample__row", "source", "annotator__username"
    )
    assert sorted(restored, key=lambda t: (t[0], t[1])) == [
        (0, "import", None),
        (1, "human", "charlie"),
        (1, "import", None),
        (2, "import", None),
        (3, "import", None),
        (4, "import", None),
        (5, "import", None),
        (7, "import", None),
    ]
    again = apply_and_refit(copy)

    def stats(r: LabelModelRun):
        return [{k: v for k, v in s.items() if k not in ("lf", "version")} for s in r.lf_stats]

    archived, arrays = archive.read_run(job.file.path)
    assert (
        stats(again)
        == stats(run)
        == [{k: v for k, v in s.items() if k not in ("lf", "version")} for s in archived["lf_stats"]]
    )
    assert np.array_equal(again.probability_array(), run.probability_array())
    assert np.array_equal(arrays["probabilities"], run.probability_array())
    assert again.metrics == run.metrics


def test_a_restored_copy_is_named_apart_from_the_original_unless_named(alice, bob, charlie):
    from django.utils import timezone

    project, _ = build_project(alice, charlie)
    job = built(project, alice, "archive")
    copy = archive.restore(user=bob, path=job.file.path).project
    assert copy.name == f"{project.name} (restored {timezone.localdate().isoformat()})"
    assert archive.restore(user=bob, path=job.file.path, name="Mine").project.name == "Mine"
    # A name near the limit is cut before the mark, so the mark always shows.
    long = archive.restored_name("n" * 200, date(2026, 1, 2))
    assert len(long) == 200 and long.endswith("n (restored 2026-01-02)")


def test_a_file_that_is_not_an_archive_is_refused(bob, tmp_path):
    path = tmp_path / "x.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a.txt", "hi")
    with pytest.raises(project_services.ServiceError, match="not a Chorus archive"):
        archive.restore(user=bob, path=path)


def test_jsonl_exported_by_chorus_reimports_unchanged(alice, charlie):
    project, _ = build_project(alice, charlie)
    response = token_client(alice).get(f"/api/projects/{project.pk}/export/?format=jsonl")
    content = b"".join(response.streaming_content)
    target = make_project(alice, name="Again", labels=("HAM", "SPAM"))
    job = project_services.start_import(
        project=target,
        user=alice,
        upload=SimpleUploadedFile("labels.jsonl", content),
        options={
            "text_field": "text",
            "id_field": "external_id",
            "split_field": "split",
            "label_field": "hand_label",
            "fields_field": "fields",
        },
    )
    project_services.run_import(job.pk)
    assert ImportJob.objects.get(pk=job.pk).status == "done", ImportJob.objects.get(pk=job.pk).errors
    fields = ("row", "external_id", "text", "fields", "split", "gold_label")
    assert list(Sample.objects.filter(project=target).values_list(*fields)) == list(
        Sample.objects.filter(project=project).values_list(*fields)
    )


def test_streamed_formats_are_not_file_jobs_and_the_label_matrix_needs_a_run(project, alice):
    make_samples(project, ["a"])
    with pytest.raises(project_services.ServiceError, match="stream at once"):
        export_jobs.start_export(project=project, user=alice, fmt="csv")
    with pytest.raises(project_services.ServiceError, match="no label matrix to export yet"):
        export_jobs.start_export(project=project, user=alice, fmt="label_matrix")
    with pytest.raises(project_services.ServiceError, match="only_informative keeps the samples"):
        export_jobs.start_export(
            project=project, user=alice, fmt="parquet", options={"only_informative": True}
        )
    assert not ExportJob.objects.exists()


def test_parquet_and_the_archive_are_built_before_any_run_with_the_hand_labels(alice, charlie, bob):
    project = make_project(alice, name="Hand only", labels=("HAM", "SPAM"))
    samples = make_samples(project, TEXTS[:3], splits=SPLITS[:3], gold=[1, None, None])
    project_services.annotate(project=project, sample=samples[1], user=charlie, label=0)
    assert not LabelModelRun.objects.filter(project=project).exists()

    job = built(project, alice, "parquet")
    # Named without a run (storage may add a suffix when the name is taken).
    name = job.file.name.rsplit("/", 1)[-1]
    assert job.run is None and name.startswith("hand-only-parquet") and "-run-" not in name
    table = pq.read_table(job.file.path).to_pylist()
    assert [r["hand_label"] for r in table] == ["SPAM", "HAM", None]
    assert [r["predicted_label"] for r in table] == [None, None, None]
    assert {r["probability_SPAM"] for r in table} == {None}
    assert table[1]["hand_labels"][0]["annotator"] == "charlie"

    job = built(project, alice, "archive")
    assert job.run is None
    copy = archive.restore(user=bob, path=job.file.path, name="Restored").project
    assert list(Sample.objects.filter(project=copy).order_by("row").values_list("text", "gold_label")) == [
        (TEXTS[0], 1),
        (TEXTS[1], 0),
        (TEXTS[2], None),
    ]
    assert archive.read_run(job.file.path) == (None, {})


def test_viewers_cannot_queue_exports_and_outsiders_do_not_see_them(alice, charlie, dana, eve):
    project, _ = build_project(alice, charlie)
    project_services.add_member(project=project, user=dana, role="viewer")
    job = built(project, alice, "label_matrix")
    assert (
        token_client(dana).post(f"/api/projects/{project.pk}/exports/", {"format": "parquet"}).status_code
        == 403
    )
    assert token_client(eve).get(f"/api/exports/{job.pk}/").status_code == 404
    assert token_client(eve).get(f"/api/exports/{job.pk}/download/").status_code == 404


def test_the_worker_builds_a_parquet_export_offered_as_a_download(worker, project, alice, bob):
    make_samples(project, TEXTS, splits=SPLITS, gold=GOLD)
    services.create_lf(
        project=project, user=alice, name="my", kind="regex", label="SPAM", config={"pattern": "my"}
    )
    wait_for(
        lambda: LabelModelRun.objects.filter(project=project, status="done").first(),
        timeout=90,
        what="the refit",
    )
    client = token_client(bob)
    response = client.post(f"/api/projects/{project.pk}/exports/", {"format": "parquet"}, format="json")
    assert response.status_code == 201, response.json()
    job_id = response.json()["id"]
    assert response.json()["download"] is None

    def done():
        body = client.get(f"/api/exports/{job_id}/").json()
        return body if body["status"] in ("done", "failed") else None

    body = wait_for(done, timeout=60, what="the export")
    assert body["status"] == "done", body["message"]
    assert body["download"].endswith(f"/api/exports/{job_id}/download/")
    download = client.get(f"/api/exports/{job_id}/download/")
    assert download.status_code == 200
    data = b"".join(download.streaming_content)
    assert pq.read_table(io.BytesIO(data)).column("text").to_pylist() == TEXTS


def test_the_restore_command_makes_a_project_from_an_archive(alice, charlie, bob):
    project, _ = build_project(alice, charlie)
    job = built(project, alice, "archive")
    out = StringIO()
    call_command("restore_archive", job.file.path, "--owner", "bob", "--name", "Copy", stdout=out)
    copy = Project.objects.get(name="Copy")
    assert out.getvalue().strip() == f"Restored Copy as project {copy.pk}: 8 samples, 3 labeling functions"
    assert copy.memberships.get().user == bob


def test_parquet_keeps_a_formula_like_text_as_it_is(alice, charlie):
    # Only the CSV is for spreadsheets and gets a quote before = + - @; Parquet is data.
    project, run = build_project(alice, charlie)
    Sample.objects.filter(project=project, row=0).update(text='=HYPERLINK("http://x")')
    Sample.objects.filter(project=project, row=1).update(text="-5 stars")
    table = pq.read_table(built(project, alice, "parquet").file.path)
    assert table.column("text").to_pylist()[:2] == ['=HYPERLINK("http://x")', "-5 stars"]
