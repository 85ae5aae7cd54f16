"""Fitting on distinct rows with counts is the same fit; predicting once per distinct row the same output."""

import numpy as np
import pytest

from labeling.engine import DawidSkene, LabelModel, MajorityVote, MatrixCompletion
from labeling.engine import label_model as lm_module
from labeling.engine.matrix_completion import vote_moments
from labeling.engine.sources import unique_rows


def sparse_lfs(n=5000, m=12, k=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    L = np.full((n, m), -1, dtype=np.int8)
    for j in range(m):
        votes = rng.random(n) < rng.uniform(0.02, 0.2)
        right = rng.random(n) < rng.uniform(0.6, 0.9)
        L[:, j] = np.where(votes, np.where(right, y, (y + 1) % k), -1)
    return L, y


@pytest.mark.parametrize("m", [5, 40, 70])
def test_distinct_rows_rebuild_the_matrix(m):
    # m = 40 and 70 at k = 2 no longer fit one int64 key per row (3^40 > 2^62): the bytes path.
    rng = np.random.default_rng(m)
    L = rng.integers(-1, 2, size=(3000, m)).astype(np.int8)
    L[1000:2000] = L[:1000]
    U, counts, inverse = unique_rows(L, 2)
    np.testing.assert_array_equal(U[inverse], L)
    assert counts.sum() == len(L)
    assert len(np.unique(U, axis=0)) == len(U)


@pytest.mark.parametrize("abstain", ["outcome", "ignore"])
def test_weighted_distinct_rows_give_the_same_fit(abstain):
    L, _ = sparse_lfs()
    U, w, _ = unique_rows(L, 3)
    assert len(U) < len(L) // 4
    a = DawidSkene(3, abstain=abstain).fit(L)
    b = DawidSkene(3, abstain=abstain).fit(U, weights=w)
    np.testing.assert_allclose(a.theta, b.theta)
    np.testing.assert_allclose(a.prior, b.prior)
    ma, mb = vote_moments(L, 3), vote_moments(U, 3, weights=w)
    assert ma.n == mb.n
    np.testing.assert_allclose(ma.gram, mb.gram)
    np.testing.assert_allclose(ma.counts, mb.counts)
    c = MatrixCompletion(3, abstain=abstain).fit(L)
    d = MatrixCompletion(3, abstain=abstain).fit(U, weights=w)
    np.testing.assert_allclose(c.theta, d.theta, atol=1e-8)
    np.testing.assert_allclose(MajorityVote(3).fit(L).prior, MajorityVote(3).fit(U, weights=w).prior)


def test_label_model_predicts_once_per_distinct_row_with_the_same_result():
    L, y = sparse_lfs()
    model = LabelModel(3).fit(L[:4000], L_dev=L[4000:], Y_dev=y[4000:])
    np.testing.assert_allclose(model.predict_proba(L), model._fitted.predict_proba(L))


def test_past_the_row_limit_the_fit_samples_rows_seeded(monkeypatch):
    L, y = sparse_lfs(n=20000, m=30, k=2)
    monkeypatch.setattr(lm_module, "SELECT_ROWS", 2000)
    monkeypatch.setattr(lm_module, "DEV_ROWS", 500)
    a = LabelModel(2, seed=1).fit(L, L_dev=L[:3000], Y_dev=y[:3000])
    b = LabelModel(2, seed=1).fit(L, L_dev=L[:3000], Y_dev=y[:3000])
    assert a.describe() == b.describe()
    assert a.describe()["dev_rows_scored"] == 500
    assert (a.predict(L, tie_policy="prior") == y).mean() > 0.8
