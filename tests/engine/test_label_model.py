"""LabelModel and the learned models: interface, edge inputs, determinism (no database, no Django)."""

import json

import numpy as np
import pytest

from labeling.engine import DawidSkene, LabelModel, MajorityVote, MatrixCompletion
from labeling.engine.sources import abstain_is_informative, class_vote_counts

MODELS = ("majority_vote", "dawid_skene", "matrix_completion")


def make_crowd(n=400, m=8, k=3, seed=0, coverage=0.6):
    """Annotators who label a random share of the items, right with their accuracy, else at random."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    acc = rng.uniform(0.6, 0.9, m)
    L = np.full((n, m), -1)
    for j in range(m):
        votes = rng.random(n) < coverage
        right = rng.random(n) < acc[j]
        wrong = (y + rng.integers(1, k, n)) % k
        L[:, j] = np.where(votes, np.where(right, y, wrong), -1)
    return L, y, acc


def make_lfs(n=600, seed=0):
    """One-sided labeling functions on a binary task: each votes its class on part of the rows or abstains."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    cols = []
    for polarity, hit, false_hit in [
        (1, 0.6, 0.05),
        (1, 0.4, 0.1),
        (0, 0.5, 0.1),
        (0, 0.7, 0.2),
        (1, 0.3, 0.02),
    ]:
        p = np.where(y == polarity, hit, false_hit)
        cols.append(np.where(rng.random(n) < p, polarity, -1))
    return np.stack(cols, axis=1), y


def check_proba(proba, n, k):
    assert proba.shape == (n, k)
    assert np.all(proba >= 0) and np.all(proba <= 1)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)


def test_zero_sources_is_a_clear_error():
    with pytest.raises(ValueError, match="no sources"):
        LabelModel(cardinality=2).fit(np.zeros((5, 0), dtype=int))


def test_the_refit_call_sequence_works_and_describe_is_json():
    L, y = make_lfs()
    m = LabelModel(cardinality=2, seed=0)
    m.fit(L[:500], L_dev=L[500:], Y_dev=y[500:])
    proba = m.predict_proba(L)
    check_proba(proba, len(L), 2)
    pred = m.predict(L, tie_policy="abstain")
    assert pred.shape == (len(L),)
    info = json.loads(json.dumps(m.describe(), allow_nan=False))
    assert info["chosen"] == m.chosen in MODELS
    assert set(info["scores"]) == set(MODELS)
    assert m.learned_accuracies is None or m.learned_accuracies.shape == (L.shape[1],)


def test_without_dev_the_default_follows_the_kind_of_sources():
    L, _ = make_lfs()
    assert LabelModel(2).fit(L).chosen == "matrix_completion"
    C, _, _ = make_crowd()
    m = LabelModel(3).fit(C)
    assert m.chosen == "dawid_skene"
    assert m.scores == {}
    assert m.fallback is None


def test_the_automatic_abstain_rule():
    L, _ = make_lfs()
    C, _, _ = make_crowd()
    assert abstain_is_informative(class_vote_counts(L, 2))
    assert not abstain_is_informative(class_vote_counts(C, 3))


@pytest.mark.parametrize("m", [1, 2])
def test_one_or_two_sources_fall_back_to_majority_vote_and_say_so(m):
    L, y = make_lfs()
    model = LabelModel(2).fit(L[:, :m], L_dev=L[:50, :m], Y_dev=y[:50])
    assert model.chosen == "majority_vote"
    assert "majority vote" in model.fallback
    assert model.describe()["fallback"] == model.fallback


@pytest.mark.parametrize("name", MODELS)
def test_the_model_can_be_fixed_by_the_project(name):
    L, y = make_lfs()
    m = LabelModel(2, model=name).fit(L, L_dev=L[:100], Y_dev=y[:100])
    assert m.chosen == name
    assert LabelModel(2, model=name).fit(L).chosen == name


def test_an_unknown_model_is_refused():
    with pytest.raises(ValueError, match="unknown model"):
        LabelModel(2, model="snorkel")


@pytest.mark.parametrize("n", [0, 1])
def test_tiny_matrices(n):
    L = np.zeros((n, 4), dtype=int)
    m = LabelModel(2).fit(L)
    check_proba(m.predict_proba(L), n, 2)
    assert m.predict(L).shape == (n,)
    json.dumps(m.describe())


@pytest.mark.parametrize("cls", [DawidSkene, MatrixCompletion])
@pytest.mark.parametrize("n", [0, 1])
def test_learned_models_survive_tiny_matrices(cls, n):
    L = np.ones((n, 4), dtype=int)
    model = cls(3).fit(L)
    check_proba(model.predict_proba(L), n, 3)


@pytest.mark.parametrize("k", [2, 3, 7, 20])
def test_cardinalities_from_2_to_20(k):
    L, y, _ = make_crowd(n=200, m=5, k=k)
    for model in (LabelModel(k), DawidSkene(k), MatrixCompletion(k), MajorityVote(k)):
        model.fit(L)
        check_proba(model.predict_proba(L), 200, k)
        pred = model.predict(L)
        assert pred.max() < k


def test_rows_where_every_source_abstains_get_the_prior_and_no_label():
    L, y = make_lfs()
    m = LabelModel(2).fit(L)
    empty = ~(L != -1).any(axis=1)
    assert empty.any()
    np.testing.assert_allclose(m.predict_proba(L)[empty], np.tile(m.prior, (empty.sum(), 1)))
    assert np.all(m.predict(L, tie_policy="abstain")[empty] == -1)
    assert m.describe()["uninformative_rows"] == int(empty.sum())


def test_no_abstains_at_all():
    L, y, _ = make_crowd(n=500, m=7, k=2, coverage=1.0)
    assert (L != -1).all()
    for name in MODELS:
        m = LabelModel(2, model=name).fit(L)
        assert (m.predict(L) == y).mean() > 0.8


def test_a_constant_source_does_not_break_the_models():
    L, y, _ = make_crowd(n=500, m=6, k=2)
    L = np.column_stack([L, np.zeros(len(L), dtype=int)])
    for name in MODELS:
        m = LabelModel(2, model=name).fit(L)
        check_proba(m.predict_proba(L), len(L), 2)
        assert (m.predict(L, tie_policy="prior") == y).mean() > 0.75


def test_a_source_voting_on_everything_is_learned():
    L, y, _ = make_crowd(n=800, m=6, k=2, coverage=0.4, seed=3)
    rng = np.random.default_rng(1)
    everywhere = np.where(rng.random(len(y)) < 0.85, y, 1 - y)
    L = np.column_stack([L, everywhere])
    m = DawidSkene(2).fit(L)
    assert abs(m.learned_accuracies[-1] - 0.85) < 0.05


def test_duplicated_sources_do_not_crash_and_stay_sane():
    L, y, _ = make_crowd(n=600, m=5, k=2)
    L = np.column_stack([L, L[:, 0], L[:, 0], L[:, 0]])
    for name in MODELS:
        m = LabelModel(2, model=name).fit(L)
        check_proba(m.predict_proba(L), len(L), 2)
        assert (m.predict(L, tie_policy="prior") == y).mean() > 0.7


def test_fits_are_deterministic():
    L, y = make_lfs(n=300)
    a = LabelModel(2, seed=3).fit(L, L_dev=L[:60], Y_dev=y[:60])
    b = LabelModel(2, seed=3).fit(L, L_dev=L[:60], Y_dev=y[:60])
    np.testing.assert_array_equal(a.predict_proba(L), b.predict_proba(L))
    np.testing.assert_array_equal(a.predict(L, tie_policy="random"), b.predict(L, tie_policy="random"))
    assert a.describe() == b.describe()


def test_dawid_skene_recovers_crowd_accuracies():
    L, y, acc = make_crowd(n=4000, m=8, k=3)
    m = DawidSkene(3).fit(L)
    assert not m.abstain_is_outcome
    assert np.abs(m.learned_accuracies - acc).max() < 0.04
    assert (m.predict(L, tie_policy="prior") == y).mean() > 0.9


def test_matrix_completion_recovers_crowd_accuracies():
    L, y, acc = make_crowd(n=4000, m=8, k=3)
    m = MatrixCompletion(3, class_balance="estimate").fit(L)
    assert np.abs(m.learned_accuracies - acc).max() < 0.05


def test_one_sided_lfs_need_abstain_as_an_outcome():
    L, y = make_lfs(n=3000)
    outcome = DawidSkene(2, abstain="outcome").fit(L)
    assert (outcome.predict(L, tie_policy="prior") == y).mean() > 0.8


def test_a_matrix_with_the_wrong_number_of_sources_is_refused_at_predict():
    L, _ = make_lfs()
    m = LabelModel(2).fit(L)
    with pytest.raises(ValueError, match="sources"):
        m.predict_proba(L[:, :3])
