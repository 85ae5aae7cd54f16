"""The REST API for label-model runs: starting a refit, watching it, the latest run, the history."""

import pytest

from labeling import services
from labeling.models import LabelModelRun
from tests.conftest import make_samples, token_client, wait_for
from tests.labeling.helpers import apply_and_refit

TEXTS = ["check out my channel", "great song", "subscribe to my page", "love this song", "my video", "nice"]
SPLITS = ["train", "train", "dev", "dev", "test", "test"]
GOLD = [1, 0, 1, 0, 1, 0]


@pytest.fixture
def two_lfs(project, alice):
    make_samples(project, TEXTS, splits=SPLITS, gold=GOLD)
    services.create_lf(
        project=project, user=alice, name="my", kind="regex", label="SPAM", config={"pattern": "(?i)my"}
    )
    services.create_lf(
        project=project, user=alice, name="song", kind="keyword", label="HAM", config={"keywords": ["song"]}
    )
    return project


def test_a_refit_is_accepted_and_the_worker_finishes_it(worker, two_lfs, bob):
    project = two_lfs
    client = token_client(bob)
    wait_for(
        lambda: LabelModelRun.objects.filter(project=project, status="done").exists(), what="the first run"
    )
    response = client.post(f"/api/projects/{project.pk}/runs/")
    assert response.status_code == 202
    run = response.json()
    assert run["status"] == "queued" and run["finished_at"] is None
    done = wait_for(
        lambda: (r := client.get(f"/api/runs/{run['id']}/").json())["status"] == "done" and r,
        what="the refit",
    )
    assert done["progress"] is None and done["stage"] == "" and done["n_samples"] == 6
    assert done["coverage"] == 5 / 6
    dev, test = done["metrics"]["dev"], done["metrics"]["test"]
    # dev: "subscribe to my page" → SPAM (right), "love this song" → HAM (right); test: "my video" right, "nice" uncovered.
    assert (dev["accuracy"], dev["accuracy_covered"], dev["coverage"]) == (1.0, 1.0, 1.0)
    assert (test["accuracy"], test["accuracy_covered"], test["coverage"]) == (0.5, 1.0, 0.5)
    assert set(dev) >= {"f1_macro", "per_class", "confusion_matrix"}
    assert dev["confusion_matrix"] == [[1, 0], [0, 1]] and set(dev["per_class"]) == {"HAM", "SPAM"}
    stats = {s["name"]: s for s in done["lf_stats"]}
    assert stats["my"]["coverage"] == 0.5 and stats["my"]["polarity"] == ["SPAM"]
    assert stats["song"]["empirical_accuracy"] == 1.0 and stats["song"]["conflicts"] == 0.0
    for field in ("overlaps", "correct", "incorrect", "learned_accuracy"):
        assert field in stats["my"]
    assert done["model"] and done["summary"]["tie_policy"]
    latest = client.get(f"/api/projects/{project.pk}/runs/latest/").json()
    assert latest["id"] == done["id"]
    wait_for(
        lambda: not LabelModelRun.objects.filter(project=project, status__in=["queued", "running"]).exists()
    )


def test_a_queued_run_shows_which_lfs_it_waits_for(two_lfs, bob):
    run = services.request_refit(project=two_lfs, user=bob)
    body = token_client(bob).get(f"/api/runs/{run.pk}/").json()
    assert body["status"] == "queued"
    assert body["progress"]["lfs"] == 2 and body["progress"]["lfs_with_votes"] == 0
    assert sorted(p["name"] for p in body["progress"]["pending"]) == ["my", "song"]


def test_a_refit_without_active_lfs_is_refused(project, bob):
    response = token_client(bob).post(f"/api/projects/{project.pk}/runs/")
    assert response.status_code == 400
    assert "no active labeling functions" in response.json()["message"]
    assert not LabelModelRun.objects.exists()


def test_latest_is_404_with_a_message_until_a_run_finished(two_lfs, dana):
    services.request_refit(project=two_lfs)
    response = token_client(dana).get(f"/api/projects/{two_lfs.pk}/runs/latest/")
    assert response.status_code == 404
    assert "no label-model run has finished" in response.json()["message"]


def test_latest_skips_a_newer_run_that_is_not_done(two_lfs, dana):
    done = apply_and_refit(two_lfs)
    LabelModelRun.objects.create(project=two_lfs, status="failed", message="boom")
    body = token_client(dana).get(f"/api/projects/{two_lfs.pk}/runs/latest/").json()
    assert body["id"] == done.pk and body["status"] == "done"


def test_the_history_lists_runs_newest_first_with_their_metrics(two_lfs, dana):
    first = apply_and_refit(two_lfs)
    second = LabelModelRun.objects.create(project=two_lfs, status="failed", message="the refit failed: boom")
    body = token_client(dana).get(f"/api/projects/{two_lfs.pk}/runs/").json()
    assert body["count"] == 2
    assert [r["id"] for r in body["results"]] == [second.pk, first.pk]
    old = body["results"][1]
    assert old["metrics"]["dev"]["accuracy"] == 1.0 and old["n_lfs"] == 2
    assert "lf_stats" not in old
    assert body["results"][0]["message"] == "the refit failed: boom"


def test_viewers_read_runs_but_cannot_start_one(two_lfs, dana):
    run = apply_and_refit(two_lfs)
    client = token_client(dana)
    assert client.get(f"/api/runs/{run.pk}/").status_code == 200
    response = client.post(f"/api/projects/{two_lfs.pk}/runs/")
    assert response.status_code == 403
    assert LabelModelRun.objects.count() == 1


def test_annotators_cannot_see_runs(two_lfs, charlie):
    run = apply_and_refit(two_lfs)
    client = token_client(charlie)
    for url in (
        f"/api/runs/{run.pk}/",
        f"/api/projects/{two_lfs.pk}/runs/",
        f"/api/projects/{two_lfs.pk}/runs/latest/",
    ):
        assert client.get(url).status_code == 403, url


def test_outsider_gets_404_for_a_run(two_lfs, eve):
    run = apply_and_refit(two_lfs)
    client = token_client(eve)
    response = client.get(f"/api/runs/{run.pk}/")
    assert response.status_code == 404
    # The same answer as for a run that does not exist: an outsider cannot probe ids.
    assert response.json() == client.get(f"/api/runs/{run.pk + 1000}/").json() == {"message": "No such run."}
