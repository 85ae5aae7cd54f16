"""Gold labels in the fit: matrix completion's labeled term, and how LabelModel scores such candidates."""

import numpy as np
import pytest
import scipy.optimize

from labeling.engine import DawidSkene, LabelModel, MatrixCompletion
from labeling.engine import label_model as lm_module
from labeling.engine import matrix_completion as mc_module
from labeling.engine.dawid_skene import POOL_FLOOR
from labeling.engine.matrix_completion import labeled_counts


def synthetic(n, accuracies, coverage, seed=0, k=2):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    L = np.full((n, len(accuracies)), -1, dtype=np.int64)
    for j, (a, c) in enumerate(zip(accuracies, coverage, strict=True)):
        votes = rng.random(n) < c
        right = rng.random(n) < a
        L[:, j] = np.where(votes, np.where(right, y, (y + rng.integers(1, k, n)) % k), -1)
    return L, y


def one_sided(n, sides, hit, false_alarm, seed=0):
    """Labeling functions: LF j votes sides[j] on hit[j] of that class's rows and false_alarm[j] of the rest."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    L = np.full((n, len(sides)), -1, dtype=np.int64)
    for j, c in enumerate(sides):
        fires = np.where(y == c, rng.random(n) < hit[j], rng.random(n) < false_alarm[j])
        L[fires, j] = c
    return L, y


def test_labeled_counts_are_truth_by_outcome_per_source():
    L = np.array([[0, -1], [1, 1], [1, -1], [-1, 0]])
    Y = np.array([0, 1, 0, -1])  # the last row has no gold and is left out
    C = labeled_counts(L, Y, 2)
    assert C.shape == (2, 2, 3)
    assert C[0].tolist() == [[1, 1, 0], [0, 1, 0]]
    assert C[1].tolist() == [[0, 0, 2], [0, 1, 0]]
    assert C.sum() == 3 * 2


@pytest.mark.parametrize("abstain", ["outcome", ["outcome", "ignore", "ignore", "outcome", "ignore"]])
@pytest.mark.parametrize("balance", [None, "estimate"])
def test_the_labeled_term_has_the_gradient_it_claims(monkeypatch, abstain, balance):
    rng = np.random.default_rng(1)
    L = rng.integers(-1, 3, (300, 5))
    Y = rng.integers(0, 3, 300)
    seen = {}
    real = scipy.optimize.minimize

    def spy(fun, x0, **kw):
        seen["fun"], seen["x0"] = fun, x0
        return real(fun, x0, **kw)

    monkeypatch.setattr(mc_module, "minimize", spy)
    MatrixCompletion(3, abstain=abstain, class_balance=balance, l2=0.1).fit(
        L, labeled=labeled_counts(L[:50], Y[:50], 3), label_weight=3.0
    )
    fun = seen["fun"]
    x = seen["x0"] + rng.normal(0, 0.3, seen["x0"].shape)
    err = scipy.optimize.check_grad(lambda z: fun(z)[0], lambda z: fun(z)[1], x)
    assert err < 1e-5 * max(1.0, float(np.linalg.norm(fun(x)[1])))


def test_labels_correct_what_correlated_sources_make_the_moments_believe():
    # Sources 0-2 are one source copied three times (right 60 %): their agreement makes the moments trust
    # them; source 3 is right 90 %. A few hundred gold rows in the fit put the copies back near 60 %.
    rng = np.random.default_rng(3)
    n = 20000
    y = rng.integers(0, 2, n)
    base = np.where(rng.random(n) < 0.6, y, 1 - y)
    copies = np.where(rng.random((n, 1)) < 0.5, base[:, None], -1).repeat(3, axis=1)
    good = np.where(rng.random(n) < 0.5, np.where(rng.random(n) < 0.9, y, 1 - y), -1)
    other = np.where(rng.random(n) < 0.5, np.where(rng.random(n) < 0.75, y, 1 - y), -1)
    L = np.column_stack([copies, good, other])
    gold = rng.choice(n, 400, replace=False)
    moments_only = MatrixCompletion(2, abstain="ignore", l2=0.1).fit(L)
    with_gold = MatrixCompletion(2, abstain="ignore", l2=0.1).fit(
        L, labeled=labeled_counts(L[gold], y[gold], 2), label_weight=10.0
    )
    err_moments = abs(moments_only.learned_accuracies[0] - 0.6)
    err_gold = abs(with_gold.learned_accuracies[0] - 0.6)
    assert err_gold < err_moments / 2
    assert with_gold.learned_accuracies[3] > with_gold.learned_accuracies[0]


def test_labeled_counts_of_the_wrong_shape_are_refused():
    L, _ = synthetic(500, [0.8, 0.7, 0.9], [0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="labeled counts have shape"):
        MatrixCompletion(2).fit(L, labeled=np.ones((2, 2, 3)), label_weight=1.0)


def test_a_candidate_fitted_on_dev_is_scored_on_rows_whose_gold_it_did_not_see(monkeypatch):
    L, y = one_sided(4000, [0, 1, 0, 1, 1], [0.4, 0.5, 0.3, 0.6, 0.2], [0.05, 0.1, 0.02, 0.2, 0.1], seed=2)
    L_dev, Y_dev = L[:300], y[:300].copy()
    seen = []
    real = lm_module.LabelModel._out_of_fold

    def spy(self, name, settings, U, moments, L_d, Y_d, folds, proba):
        out = real(self, name, settings, U, moments, L_d, Y_d, folds, proba)
        seen.append((settings, folds, out))
        return out

    monkeypatch.setattr(lm_module.LabelModel, "_out_of_fold", spy)
    LabelModel(2, selection_metric="accuracy").fit(L, L_dev=L_dev, Y_dev=Y_dev)
    assert seen and all(s["label_weight"] > 0 for s, _, _ in seen)
    settings, folds, first = seen[0]
    assert len(folds) == lm_module.DEV_FOLDS
    assert sorted(np.concatenate(folds).tolist()) == list(range(300))

    # Flipping a fold's own gold leaves that fold's scored probabilities as they were: they came from
    # fits on the other folds.
    flipped = Y_dev.copy()
    flipped[folds[0]] = 1 - flipped[folds[0]]
    model = LabelModel(2, selection_metric="accuracy")
    model.fit(L, L_dev=L_dev, Y_dev=Y_dev)
    U, model._weights = model._fit_rows(L, lm_module.SELECT_ROWS)
    moments = mc_module.vote_moments(U, 2, weights=model._weights)
    proba = np.zeros((300, 2))
    a = real(model, "matrix_completion", settings, U, moments, L_dev, Y_dev, folds, proba)
    b = real(model, "matrix_completion", settings, U, moments, L_dev, flipped, folds, proba)
    np.testing.assert_allclose(a[folds[0]], b[folds[0]])
    assert not np.allclose(a[folds[1]], b[folds[1]])


def test_pooling_is_for_annotators_only_and_refuses_a_negative_strength():
    L, _ = synthetic(
        3000, [0.8, 0.7, 0.9, 0.6, 0.75, 0.65, 0.85, 0.7, 0.6, 0.8, 0.9, 0.75], [0.3] * 12, k=3, seed=4
    )
    plain = DawidSkene(3, abstain="outcome").fit(L)
    pooled = DawidSkene(3, abstain="outcome", pool=2.0).fit(L)
    # Labeling functions (abstain an outcome) are not alike: nothing is pooled.
    np.testing.assert_allclose(plain.theta, pooled.theta)
    crowd_plain = DawidSkene(3, abstain="ignore").fit(L)
    crowd_pooled = DawidSkene(3, abstain="ignore", pool=2.0).fit(L)
    assert not np.allclose(crowd_plain.theta, crowd_pooled.theta)
    # Nine annotators are too few to be a crowd whose confusion means something apart from each of them.
    few = L[:, :9]
    np.testing.assert_allclose(
        DawidSkene(3, abstain="ignore", pool=2.0, smoothing=POOL_FLOOR).fit(few).theta,
        DawidSkene(3, abstain="ignore", smoothing=POOL_FLOOR).fit(few).theta,
    )
    with pytest.raises(ValueError, match="pool must be non-negative"):
        DawidSkene(3, pool=-1.0)


def test_a_run_fitted_on_dev_labels_says_its_dev_figures_are_not_fair():
    # LF 0 copied twice: three columns making the same mistakes, which the moments take for agreement.
    L, y = one_sided(
        6000, [0, 1, 0, 1, 1, 0], [0.4, 0.5, 0.3, 0.6, 0.2, 0.5], [0.3, 0.1, 0.02, 0.2, 0.1, 0.25]
    )
    L = np.column_stack([L, L[:, 0], L[:, 0]])
    m = LabelModel(2, selection_metric="accuracy").fit(L, L_dev=L[:600], Y_dev=y[:600])
    assert m.settings.get("label_weight", 0) > 0
    assert "not a fair estimate" in m.reason
    unfitted = LabelModel(2, selection_metric="accuracy", model="dawid_skene").fit(
        L, L_dev=L[:600], Y_dev=y[:600]
    )
    assert "not a fair estimate" not in unfitted.reason


def test_copies_are_counted_once_and_coincidences_are_not_copies():
    L, y = one_sided(3000, [0, 1, 1], [0.4, 0.5, 0.3], [0.05, 0.1, 0.02], seed=5)
    # Three sources, two of them the same: two distinct sources, too few to learn from.
    m = LabelModel(2).fit(np.column_stack([L[:, :2], L[:, 1]]))
    assert m.chosen == "majority_vote" and "only 2 distinct source(s)" in m.fallback
    assert m.describe()["duplicate_of"] == [None, None, 1]
    # Per source of the caller's matrix, copies included.
    modes = ["outcome", "outcome", "outcome"]
    given = LabelModel(2).fit(np.column_stack([L[:, :2], L[:, 1]]), abstain_modes=modes).describe()
    assert given["abstain_modes_given"] == modes and len(given["learned_accuracies"] or [0, 0, 0]) == 3
    # Two LFs that fired on the same two rows are a coincidence, not a copy.
    rare = np.full((3000, 2), -1)
    rare[[10, 20], :] = 1
    m = LabelModel(2).fit(np.column_stack([L, rare]))
    assert m.describe()["duplicate_of"] == [None] * 5
