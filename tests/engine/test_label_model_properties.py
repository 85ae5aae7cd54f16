"""Property tests of the label models (hypothesis): the invariances every label model must have."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labeling.engine import DawidSkene, LabelModel, MajorityVote, MatrixCompletion

FAST = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def label_matrices(draw, min_m=1, max_m=6, max_n=40):
    k = draw(st.integers(2, 5))
    m = draw(st.integers(min_m, max_m))
    n = draw(st.integers(0, max_n))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    L = rng.integers(-1, k, size=(n, m))
    return L, k


def _models(k):
    return [MajorityVote(k), DawidSkene(k), MatrixCompletion(k), LabelModel(k)]


@FAST
@given(label_matrices())
def test_probabilities_lie_in_0_1_and_sum_to_1(data):
    L, k = data
    for model in _models(k):
        proba = model.fit(L).predict_proba(L)
        assert proba.shape == (L.shape[0], k)
        assert np.all(np.isfinite(proba))
        assert np.all(proba >= 0) and np.all(proba <= 1 + 1e-12)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)


@FAST
@given(label_matrices(min_m=3), st.integers(0, 2**16))
def test_permuting_sources_changes_nothing(data, seed):
    L, k = data
    perm = np.random.default_rng(seed).permutation(L.shape[1])
    for make in (DawidSkene, MatrixCompletion, LabelModel):
        a = make(k).fit(L)
        b = make(k).fit(L[:, perm])
        # Equal up to the optimizer's stopping tolerance (the summation order changes, nothing else).
        np.testing.assert_allclose(a.predict_proba(L), b.predict_proba(L[:, perm]), atol=2e-3)
        if a.learned_accuracies is not None:
            np.testing.assert_allclose(a.learned_accuracies[perm], b.learned_accuracies, atol=2e-3)


@FAST
@given(label_matrices(min_m=3), st.integers(0, 2**16))
def test_relabeling_the_classes_permutes_the_output(data, seed):
    L, k = data
    sigma = np.random.default_rng(seed).permutation(k)
    relabeled = np.where(L >= 0, sigma[np.maximum(L, 0)], -1)
    for make in (MajorityVote, DawidSkene, LabelModel):
        a = make(k).fit(L).predict_proba(L)
        b = make(k).fit(relabeled).predict_proba(relabeled)
        # Class c of the original is class sigma[c] of the relabeled matrix.
        np.testing.assert_allclose(a, b[:, sigma], atol=1e-5)


@FAST
@given(st.integers(2, 5), st.integers(5, 8), st.integers(0, 2**16))
def test_a_perfect_source_is_recovered(k, m, seed):
    # Five sources or more: with three or four on 300 rows the likelihood's own maximum can put the perfect
    # source near 0.92 (restarting EM from each source's votes finds nothing better), and about one draw in
    # a hundred then labels 94 % right; from five on, none did in 6,400 draws.
    rng = np.random.default_rng(seed)
    n = 300
    y = rng.integers(0, k, n)
    noisy = [
        np.where(rng.random(n) < 0.5, np.where(rng.random(n) < 0.7, y, rng.integers(0, k, n)), -1)
        for _ in range(m - 1)
    ]
    L = np.column_stack([y] + noisy)
    for model in (DawidSkene(k), LabelModel(k)):
        model.fit(L)
        # Rows only the perfect source votes on are right; rows where noisy sources outvote it may not be.
        assert (model.predict(L, tie_policy="prior") == y).mean() > 0.95
        # The perfect source is the one the model trusts most.
        assert model.learned_accuracies[0] == np.nanmax(model.learned_accuracies)
        assert model.learned_accuracies[0] > 0.85
