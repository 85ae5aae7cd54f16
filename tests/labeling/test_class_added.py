"""A class appended to a project (PATCH /api/projects/{id}/ with the longer label list): the latest run still
has the old classes' columns. Until the refit that adding the class requests is done, every export and page
reading that run works: the new class has probability 0 and no predictions."""

import csv
import io
import json
import re

import pytest
from django.urls import reverse

from labeling import refit, services
from labeling.models import LabelModelRun
from tests.conftest import make_samples, token_client
from tests.labeling.helpers import apply_and_refit

TEXTS = ["check out my channel", "great song", "my song, my rules", "nice", "my video", "love this song"]
SPLITS = ["train", "dev", "dev", "dev", "test", "test"]
GOLD = [1, 0, None, 0, 1, 0]


def _add_class(project, user, django_capture_on_commit_callbacks):
    """PATCH the label set as the API does, then run what it left for after the commit (the test's
    transaction never commits): the classes_added signal and so the refit request."""
    with django_capture_on_commit_callbacks() as callbacks:
        response = token_client(user).patch(
            f"/api/projects/{project.pk}/", {"labels": ["HAM", "SPAM", "NEW"]}, format="json"
        )
    assert response.status_code == 200, response.content
    for callback in callbacks:
        callback()
    project.refresh_from_db()
    assert project.labels == ["HAM", "SPAM", "NEW"]


@pytest.fixture
def old_run(project, alice, django_capture_on_commit_callbacks):
    """A real run fitted on HAM and SPAM, then the class NEW added."""
    make_samples(project, TEXTS, splits=SPLITS, gold=GOLD)
    services.create_lf(
        project=project, user=alice, name="my", kind="regex", label="SPAM", config={"pattern": "my"}
    )
    services.create_lf(
        project=project, user=alice, name="song", kind="keyword", label="HAM", config={"keywords": ["song"]}
    )
    run = apply_and_refit(project)
    assert run.probability_array().shape == (len(TEXTS), 2)
    _add_class(project, alice, django_capture_on_commit_callbacks)
    return project, run


def _read(response) -> str:
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode("utf-8")


def test_adding_a_class_requests_a_refit_which_fits_every_class(old_run):
    project, run = old_run
    queued = LabelModelRun.objects.get(project=project, status="queued")
    assert queued.pk != run.pk
    refit.refit(queued.pk)
    queued.refresh_from_db()
    assert queued.status == "done", queued.message
    assert queued.probability_array().shape == (len(TEXTS), 3)


def test_adding_a_class_without_lfs_queues_nothing(project, alice, django_capture_on_commit_callbacks):
    make_samples(project, TEXTS, splits=SPLITS, gold=GOLD)
    _add_class(project, alice, django_capture_on_commit_callbacks)
    assert not LabelModelRun.objects.filter(project=project).exists()


def test_csv_export_keeps_every_row_with_the_new_class_at_zero(old_run, bob):
    project, run = old_run
    rows = list(
        csv.DictReader(
            io.StringIO(_read(token_client(bob).get(f"/api/projects/{project.pk}/export/?format=csv")))
        )
    )
    assert [r["text"] for r in rows] == TEXTS
    assert "probability_NEW" in rows[0]
    proba = run.probability_array()
    for r, p in zip(rows, proba, strict=True):
        if r["predicted_label"] or r["probability_HAM"]:
            assert r["probability_NEW"] == "0.0"
            assert float(r["probability_HAM"]) == pytest.approx(float(p[0]))
            assert float(r["probability_SPAM"]) == pytest.approx(float(p[1]))
        else:  # no LF voted: no probabilities at all
            assert r["probability_NEW"] == ""
    assert rows[0]["predicted_label"] == "SPAM" and rows[1]["predicted_label"] == "HAM"
    assert rows[3]["probability_NEW"] == ""  # "nice": no vote


def test_jsonl_export_has_every_row_and_a_zero_for_the_new_class(old_run, bob):
    project, run = old_run
    lines = _read(token_client(bob).get(f"/api/projects/{project.pk}/export/?format=jsonl")).splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["text"] for r in records] == TEXTS
    assert records[0]["predicted_label"] == "SPAM"
    assert records[0]["probabilities"] == {"HAM": 0.0, "SPAM": 1.0, "NEW": 0.0}
    assert records[3]["probabilities"] is None  # no vote


def test_browser_export_keeps_every_row(client, old_run, bob):
    project, _ = old_run
    client.force_login(bob)
    body = _read(client.get(reverse("export", args=[project.pk]), {"format": "csv"}))
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == len(TEXTS) and rows[0]["probability_NEW"] == "0.0"


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_metrics_page_shows_the_new_class_with_no_predictions(client, old_run, dana):
    project, run = old_run
    client.force_login(dana)
    response = client.get(reverse("analysis_metrics", args=[project.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    table = re.search(r'<table class="confusion" id="confusion-dev".*?</table>', html, re.S).group(0)
    header = re.findall(r'<th class="num" scope="col">([^<]+)</th>', table)
    assert header == ["HAM", "SPAM", "NEW", "no label"]
    rows = re.findall(r'<tr><th scope="row">(\w+)</th>(.*?)</tr>', table, re.S)
    assert [name for name, _ in rows] == ["HAM", "SPAM", "NEW"]
    # Every row has a cell per class and one for "no label"; NEW's row and column are zeros.
    cells = [re.findall(r"<a [^>]*>(\d+)</a>", body) for _, body in rows]
    assert all(len(c) == 4 for c in cells)
    assert cells[2] == ["0", "0", "0", "0"] and cells[0][2] == cells[1][2] == "0"
    dev = run.metrics["dev"]["confusion_matrix"]
    assert [int(v) for v in cells[0][:2]] == dev[0] and [int(v) for v in cells[1][:2]] == dev[1]
    # The "no label" column still links to the uninformative samples, not to the new class.
    assert "predicted=none" in rows[0][1].split("<a ")[-1]


def test_dashboard_renders_with_the_new_class(client, old_run, dana):
    project, run = old_run
    client.force_login(dana)
    response = client.get(reverse("dashboard", args=[project.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    table = re.search(
        r'<table class="confusion" aria-label="dev confusion matrix.*?</table>', html, re.S
    ).group(0)
    rows = re.findall(r'<tr><th scope="row">(\w+)</th>(.*?)</tr>', table, re.S)
    assert [name for name, _ in rows] == ["HAM", "SPAM", "NEW"]
    assert all(len(re.findall(r"<td", body)) == 4 for _, body in rows)


@pytest.mark.parametrize(
    "name,params",
    [
        ("analysis", {}),
        ("analysis_conflicts", {}),
        ("analysis_history", {}),
        ("analysis_overview", {}),
        ("drilldown", {"kind": "predicted", "label": "NEW"}),
        ("drilldown", {"kind": "confusion", "gold": "NEW", "predicted": "none", "split": "dev"}),
        ("drilldown", {"kind": "covered"}),
    ],
)
def test_other_analysis_pages_render_with_the_new_class(client, old_run, dana, name, params):
    project, _ = old_run
    client.force_login(dana)
    assert client.get(reverse(name, args=[project.pk]), params).status_code == 200


def test_sample_page_gives_the_new_class_probability_zero(client, old_run, bob):
    project, _ = old_run
    client.force_login(bob)
    response = client.get(reverse("analysis_sample", args=[project.pk, 0]))
    assert response.status_code == 200
    html = response.content.decode()
    table = re.search(r'<table class="distribution" id="sample-probabilities">.*?</table>', html, re.S).group(
        0
    )
    shown = re.findall(r'<th scope="row">(\w+)</th><td class="num">([^<]+)</td>', table)
    assert [name for name, _ in shown] == ["HAM", "SPAM", "NEW"]
    assert shown[1][1] != shown[2][1] and _text(shown[2][1]) == _text(
        shown[0][1]
    )  # SPAM 100 %, HAM = NEW = 0
