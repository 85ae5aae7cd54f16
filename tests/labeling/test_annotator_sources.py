"""Annotators as sources: each annotator's labels one column of the label matrix at refit (the project's
switch), weighed by the label model alongside the LFs; checked on a real crowd set through the platform."""

import csv

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from labeling import annotator_sources, refit
from labeling import services as lf_services
from labeling.engine import vote_counts
from labeling.models import LabelModelRun
from projects import checks, services
from projects.models import Annotation, Membership, Sample
from tests.conftest import add_member, make_project, make_samples, make_user, need
from tests.labeling.helpers import apply_and_refit


@pytest.fixture
def frank(project):
    user = make_user("frank")
    add_member(project, user, "annotator")
    return user


@pytest.fixture
def labeled(project, charlie, frank):
    services.update_workflow(project=project, overlap=2)
    samples = make_samples(project, ["buy my stuff", "great song", "subscribe my channel", "nice tune"])
    for sample, (c, f) in zip(samples, [(1, 1), (0, None), (1, 0), (None, 0)], strict=True):
        if c is not None:
            services.annotate(project=project, sample=sample, user=charlie, label=c)
        if f is not None:
            services.annotate(project=project, sample=sample, user=frank, label=f)
    services.annotate(project=project, sample=samples[3], user=charlie, label=None, reason="unsure")  # a skip
    return samples


def test_the_columns_hold_each_annotators_labels_by_row(project, labeled, alice, frank):
    columns = annotator_sources.annotator_columns(project, 4)
    assert columns.names == ["charlie", "frank"]
    assert columns.L.tolist() == [[1, 1], [0, -1], [1, 0], [-1, 0]]  # the skip is no vote
    checks.exclude_annotator(project=project, annotator=frank, by=alice)
    columns = annotator_sources.annotator_columns(project, 4)
    assert columns.names == ["charlie"] and columns.L[:, 0].tolist() == [1, 0, 1, -1]


def test_with_the_switch_off_the_label_matrix_is_the_lfs_alone(project, labeled, bob):
    L = np.array([[1], [-1], [1], [-1]])
    same, modes, columns = annotator_sources.for_refit(project, L)
    assert same is L and modes is None and columns is None
    services.update_workflow(project=project, annotators_as_sources=True)
    project.refresh_from_db()
    full, modes, columns = annotator_sources.for_refit(project, L)
    assert full.shape == (4, 3) and modes == ["outcome", "ignore", "ignore"]


def _lf(project, bob, name, label, pattern):
    return lf_services.create_lf(
        project=project, user=bob, name=name, kind="regex", label=label, config={"pattern": pattern}
    )


def test_a_refit_with_the_switch_on_weighs_annotators_beside_the_lfs(client, project, labeled, bob):
    _lf(project, bob, "my", "SPAM", r"\bmy\b")
    off = apply_and_refit(project)
    assert off.summary["annotator_sources"] == []
    assert off.model["abstain_modes_given"] is None
    services.update_workflow(project=project, annotators_as_sources=True)
    run = apply_and_refit(project)
    # The LF table is the LFs' (their stored votes and statistics); the annotators are listed apart.
    assert [s["name"] for s in run.lf_stats] == ["my"] and run.lf_versions == off.lf_versions
    rows = {r["name"]: r for r in run.summary["annotator_sources"]}
    assert set(rows) == {"charlie", "frank"}
    assert rows["charlie"]["kind"] == "annotator" and rows["charlie"]["labels"] == 3
    assert rows["frank"]["labels"] == 3
    assert all(r["learned_accuracy"] is not None for r in rows.values())
    assert run.model["abstain_modes_given"] == ["outcome", "ignore", "ignore"]
    client.force_login(bob)
    for page in ("dashboard", "analysis"):
        html = client.get(reverse(page, args=[project.pk])).content.decode()
        assert 'id="annotator-sources"' in html, page
        assert '<th scope="row">charlie</th>' in html
    # Switched off again: no annotator rows, the pages show none.
    services.update_workflow(project=project, annotators_as_sources=False)
    again = apply_and_refit(project)
    assert again.summary["annotator_sources"] == []
    assert 'id="annotator-sources"' not in client.get(reverse("analysis", args=[project.pk])).content.decode()


def test_a_project_of_annotators_alone_refits_with_the_switch_on(client, project, labeled, bob):
    assert lf_services.request_refit(project=project) is None  # no LF and the switch off: nothing to fit
    services.update_workflow(project=project, annotators_as_sources=True)
    project.refresh_from_db()
    run = lf_services.request_refit(project=project)
    refit.refit(run.pk)
    run.refresh_from_db()
    assert run.status == "done", run.message
    assert run.lf_stats == [] and len(run.summary["annotator_sources"]) == 2
    client.force_login(bob)
    for page in ("dashboard", "analysis", "analysis_conflicts", "analysis_metrics", "analysis_history"):
        response = client.get(reverse(page, args=[project.pk]))
        assert response.status_code == 200, page
    assert 'id="annotator-sources"' in client.get(reverse("analysis", args=[project.pk])).content.decode()


# --- a real crowd set through the platform --------------------------------------------------------------------


def _import_crowd(folder):
    """The set's items as samples (all train) and each worker's answers as that annotator's hand labels."""
    with (folder / "answer.csv").open() as f:
        answers = list(csv.DictReader(f))
    with (folder / "truth.csv").open() as f:
        truth = {r["question"]: int(r["truth"]) for r in csv.DictReader(f)}
    items = sorted({a["question"] for a in answers} | set(truth))
    classes = sorted({int(a["answer"]) for a in answers} | set(truth.values()))
    owner = make_user("crowd-owner")
    project = make_project(owner, name=folder.name, labels=[f"class {c}" for c in classes])
    services.update_workflow(project=project, annotators_as_sources=True, overlap=50)
    Sample.objects.bulk_create(
        [Sample(project=project, row=i, external_id=q, text=q, split="train") for i, q in enumerate(items)]
    )
    User = get_user_model()
    workers = sorted({a["worker"] for a in answers})
    User.objects.bulk_create([User(username=f"w-{w}"[:150]) for w in workers])
    users = dict(User.objects.filter(username__startswith="w-").values_list("username", "pk"))
    Membership.objects.bulk_create(
        [Membership(project=project, user_id=pk, role="annotator") for pk in users.values()]
    )
    sample_ids = dict(Sample.objects.filter(project=project).values_list("external_id", "pk"))
    index = {c: i for i, c in enumerate(classes)}
    Annotation.objects.bulk_create(
        [
            Annotation(
                project=project,
                sample_id=sample_ids[a["question"]],
                annotator_id=users[f"w-{a['worker']}"[:150]],
                label=index[int(a["answer"])],
            )
            for a in answers
        ],
        batch_size=5000,
    )
    services.refresh_samples(project, sample_ids.values())  # gold and queue state, as annotate() keeps them
    Y = np.array([index[truth[q]] if q in truth else -1 for q in items])
    return project, Y, len(classes)


def _platform_and_mv(folder):
    """The refit's accuracy on the items with ground truth, and per-item majority vote's from the same
    answers with its ties broken at random (the expected accuracy over every way of breaking them)."""
    project, Y, k = _import_crowd(folder)
    run = lf_services.request_refit(project=project)
    refit.refit(run.pk)
    run = LabelModelRun.objects.get(pk=run.pk)
    assert run.status == "done", run.message
    pred = run.prediction_array()
    has = Y != -1
    L = annotator_sources.annotator_columns(project, len(Y)).L
    assert len(run.summary["annotator_sources"]) == L.shape[1]
    counts = vote_counts(L, k)
    top = counts == counts.max(axis=1, keepdims=True)
    mv = float((top[has, Y[has]] / top[has].sum(axis=1)).mean())
    return float((pred[has] == Y[has]).mean()), mv


def test_on_a_real_crowd_set_the_platform_beats_majority_vote(db, datasets):
    """dog: 807 items with ground truth, 109 workers, 8,070 answers, imported as annotations of a project
    with the switch on and no LF."""
    folder = datasets / "crowd_truth_inference" / "dog"
    need(folder.exists(), f"the crowd set at {folder}")
    platform, mv = _platform_and_mv(folder)
    print(f"dog through the platform: label model {100 * platform:.2f} %, majority vote {100 * mv:.2f} %")
    assert platform > mv
