"""Annotators as sources (issue 5) on real crowd answers with ground truth, shared/datasets/crowd_truth_inference.

Each worker is one column of the label matrix. The label model, left to its automatic choice without
gold, must beat per-item majority vote on at least three of the four classification sets (emotion is a
regression set and is left out). Accuracy is over all items with ground truth.
"""

import numpy as np
import pytest

from labeling.engine import LabelModel, MajorityVote
from tests.conftest import need

datasets = pytest.importorskip("bench.datasets")

# folder, name, and SOURCE.md's table: items, workers, answers, classes.
CROWD_SETS = [
    ("bluebirds_duck", "bluebirds", 108, 39, 4212, 2),
    ("dog", "dog", 807, 109, 8070, 4),
    ("face_sentiment", "face_sentiment", 584, 27, 5242, 4),
    ("product", "product", 8315, 176, 24945, 2),
]


@pytest.fixture(scope="module")
def root():
    try:
        return datasets.datasets_dir()
    except FileNotFoundError:
        need(False, "shared/datasets beside the repository (or CHORUS_SHARED_DIR)")


@pytest.fixture(scope="module")
def tasks(root):
    return {name: datasets.crowd(root, folder, name) for folder, name, *_ in CROWD_SETS}


@pytest.fixture(scope="module")
def results(tasks):
    """Per set, percent accuracy: majority vote with seeded random ties and with ties as wrong; the model."""
    out = {}
    for name, t in tasks.items():
        L, Y, k = t.L_train, t.Y_eval, t.cardinality
        mv = MajorityVote(k, seed=0).fit(L)
        model = LabelModel(k, seed=0).fit(L)
        out[name] = {
            "mv_random": datasets.score(mv.predict(L, "random"), Y, "accuracy"),
            "mv_ties_wrong": datasets.score(mv.predict(L, "abstain"), Y, "accuracy"),
            # The model's own ties count as wrong: the stricter reading.
            "model": datasets.score(model.predict(L, "abstain"), Y, "accuracy"),
            "chosen": (model.chosen, model.settings.get("abstain")),
        }
    return out


@pytest.mark.parametrize(("folder", "name", "items", "workers", "answers", "classes"), CROWD_SETS)
def test_each_worker_is_one_source_and_each_answer_one_vote(
    tasks, folder, name, items, workers, answers, classes
):
    t = tasks[name]
    assert t.L_train.shape == (items, workers)
    assert int((t.L_train != -1).sum()) == answers
    assert t.cardinality == classes
    assert int((t.Y_eval != -1).sum()) == items


def test_the_label_model_weighs_crowd_workers_with_dawid_skene_ignoring_abstain(results):
    # Who labels an item is chance for a crowd, so an abstain says nothing: the automatic choice sees it.
    assert {r["chosen"] for r in results.values()} == {("dawid_skene", "ignore")}


def test_the_label_model_beats_majority_vote_on_at_least_three_of_the_four_sets(results):
    beats_random_ties = [n for n, r in results.items() if r["model"] > r["mv_random"]]
    beats_ties_wrong = [n for n, r in results.items() if r["model"] > r["mv_ties_wrong"]]
    assert len(beats_random_ties) >= 3, results
    assert len(beats_ties_wrong) >= 3, results


def test_the_label_model_is_never_worse_than_majority_vote(results):
    # Measured: face_sentiment is a draw with seeded random ties (64.2 both); the others win by 2 to 13 points.
    for name, r in results.items():
        assert r["model"] >= r["mv_random"], (name, r)


def test_where_workers_differ_in_skill_the_gain_is_large(results):
    # bluebirds: 75.9 -> 88.9, product: 89.7 -> 93.8 (measured); a weighting bug loses most of it.
    assert results["bluebirds"]["model"] > results["bluebirds"]["mv_random"] + 10
    assert results["product"]["model"] > results["product"]["mv_random"] + 3


def test_learned_worker_accuracies_are_probabilities(tasks):
    t = tasks["dog"]
    acc = LabelModel(t.cardinality).fit(t.L_train).learned_accuracies
    assert acc is not None and acc.shape == (t.L_train.shape[1],)
    assert np.all((acc > 0) & (acc < 1))
