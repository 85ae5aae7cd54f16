"""Saving an LF applies it in the real worker and ends in one refit of the latest versions."""

import numpy as np
from django.urls import reverse

from labeling import services
from labeling.models import LabelModelRun, LFVersion
from tests.conftest import make_samples, wait_for


def _done_runs(project):
    return LabelModelRun.objects.filter(project=project, status="done")


def test_saving_an_lf_applies_it_and_refits(worker, project, alice):
    texts = ["check out my channel", "great song", "subscribe please", "love this song", "nice", "my video"]
    make_samples(
        project, texts, splits=["train", "train", "dev", "dev", "test", "test"], gold=[1, 0, 1, 0, 0, 1]
    )
    services.create_lf(
        project=project, user=alice, name="my", kind="regex", label="SPAM", config={"pattern": "(?i)my"}
    )
    services.create_lf(
        project=project, user=alice, name="song", kind="keyword", label="HAM", config={"keywords": ["song"]}
    )
    run = wait_for(
        lambda: next((r for r in _done_runs(project) if len(r.lf_versions) == 2), None),
        what="a run of both LFs",
    )
    assert run.coverage == 4 / 6
    votes = LFVersion.objects.get(lf__name="my").vote_array()
    assert votes.tolist() == [1, -1, -1, -1, -1, 1]
    probs = run.probability_array()
    assert probs.shape == (6, 2)
    assert np.allclose(probs.sum(axis=1), 1)
    assert [s["name"] for s in run.lf_stats] == ["my", "song"]


def test_a_large_run_scores_the_compared_models_after_it_is_shown(
    client, project, alice, monkeypatch, django_capture_on_commit_callbacks
):
    from labeling import refit
    from tests.labeling.helpers import apply_and_refit

    texts = [
        "check out my channel",
        "great song",
        "subscribe my channel",
        "love this song",
        "my song",
        "my video",
    ]
    make_samples(project, texts * 4, splits=["train", "dev", "test"] * 8, gold=[1, 0, 1, 0, 0, 1] * 4)
    with django_capture_on_commit_callbacks(execute=False):
        services.create_lf(
            project=project, user=alice, name="my", kind="regex", label="SPAM", config={"pattern": "my"}
        )
        services.create_lf(
            project=project,
            user=alice,
            name="song",
            kind="keyword",
            label="HAM",
            config={"keywords": ["song"]},
        )
    inline = apply_and_refit(project)
    assert set(inline.metrics["dev"]["models"]) >= {"majority_vote"}

    monkeypatch.setattr(refit, "COMPARED_INLINE_ROWS", 0)
    with django_capture_on_commit_callbacks(execute=False):
        run = services.request_refit(project=project, force=True)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        refit.refit(run.pk)
    run.refresh_from_db()
    assert run.status == "done" and "models" not in run.metrics["dev"]
    assert run.summary["comparison"] == "pending"
    assert len(callbacks) == 1  # the comparison task, sent once the run is stored

    # The worker dies before the task runs: starting Chorus again sends it once more.
    from labeling import recovery, tasks

    sent = []
    monkeypatch.setattr(tasks.compare_models, "delay", lambda pk: sent.append(pk))
    with django_capture_on_commit_callbacks(execute=True):
        recovered = recovery.requeue_unfinished()
    assert sent == [run.pk] and f"comparison of refit {run.pk}" in recovered
    client.force_login(alice)
    pending = "other models are still being scored"
    assert pending in client.get(reverse("analysis_metrics", args=[project.pk])).content.decode()

    refit.compare_models(run.pk)
    run.refresh_from_db()
    assert run.summary["comparison"] == "done"
    for name in ("dev", "test"):
        assert run.metrics[name]["models"] == inline.metrics[name]["models"]
    assert run.metrics["dev"]["accuracy"] == inline.metrics["dev"]["accuracy"]
    assert pending not in client.get(reverse("analysis_metrics", args=[project.pk])).content.decode()
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        recovery.requeue_unfinished()
    assert sent == []


def test_a_refit_whose_votes_change_under_it_waits_instead_of_failing(
    project, alice, monkeypatch, django_capture_on_commit_callbacks
):
    # The refit checks every version is done, then reads the votes it does not hold: if a version is
    # being applied again in between (an import, an edit), its votes are not those rows' and the run waits.
    from labeling import refit, tasks
    from labeling.models import LFVersion
    from tests.labeling.helpers import apply_and_refit

    make_samples(project, ["buy now", "hello", "buy it"])
    services.create_lf(
        project=project, user=alice, name="buy", kind="keyword", label="SPAM", config={"keywords": ["buy"]}
    )
    services.create_lf(
        project=project, user=alice, name="hi", kind="keyword", label="HAM", config={"keywords": ["hello"]}
    )
    apply_and_refit(project)
    refit._votes.clear()
    with django_capture_on_commit_callbacks(execute=False):
        run = services.request_refit(project=project, force=True)
    version = LFVersion.objects.get(lf__name="buy")
    real = refit.label_matrix

    def racing(versions, n):
        # What another worker does between the check and the read: the version starts over.
        LFVersion.objects.filter(pk=version.pk).update(votes=None)
        return real(versions, n)

    monkeypatch.setattr(refit, "label_matrix", racing)
    sent = []
    monkeypatch.setattr(tasks.refit, "apply_async", lambda args, countdown: sent.append((args, countdown)))
    with django_capture_on_commit_callbacks(execute=True):
        refit.refit(run.pk)
    run.refresh_from_db()
    assert run.status == "queued" and run.stage == "waiting for votes" and not run.message
    assert sent == [((run.pk,), 2)]
    assert version.pk not in refit._votes
