"""LF statistics: Snorkel 0.10's LFAnalysis definitions (METRICS.md), checked against a plain row loop."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from labeling.engine import conflict_matrix, lf_stats, matrix_stats

L_DOC = np.array([[-1, 0, 0], [-1, -1, -1], [1, 0, -1], [-1, 0, -1], [0, 0, 0]])
Y_DOC = np.array([0, 1, 1, 0, 1])


def test_the_worked_example_gives_snorkels_values():
    stats = lf_stats(L_DOC, Y_DOC)
    assert [s.coverage for s in stats] == [0.4, 0.8, 0.4]
    assert [s.overlaps for s in stats] == [0.4, 0.6, 0.4]
    assert [s.conflicts for s in stats] == [0.2, 0.2, 0.0]
    assert [s.polarity for s in stats] == [(0, 1), (0,), (0,)]
    assert [(s.correct, s.incorrect) for s in stats] == [(1, 1), (2, 2), (1, 1)]
    assert [s.empirical_accuracy for s in stats] == [0.5, 0.5, 0.5]
    whole = matrix_stats(L_DOC, Y_DOC)
    assert (whole.coverage, whole.overlap, whole.conflict) == (0.8, 0.6, 0.2)


def test_empirical_accuracy_is_none_not_zero_without_gold_votes():
    stats = lf_stats(np.array([[0], [-1]]), np.array([-1, 1]))
    assert stats[0].empirical_accuracy is None
    assert (stats[0].correct, stats[0].incorrect) == (0, 0)


def test_overall_precision_comes_from_totals_not_a_mean_of_ratios():
    # LF 0: 1 of 1 right; LF 1: 1 of 3 right. Mean of ratios 0.667; from totals 2/4.
    L = np.array([[0, 0], [-1, 0], [-1, 0]])
    Y = np.array([0, 1, 1])
    assert matrix_stats(L, Y).precision == 0.5


def _naive(L, Y):
    n, m = L.shape
    out = []
    for j in range(m):
        cov = ovl = con = cor = inc = 0
        for i in range(n):
            if L[i, j] == -1:
                continue
            cov += 1
            others = [L[i, t] for t in range(m) if t != j and L[i, t] != -1]
            ovl += bool(others)
            con += any(v != L[i, j] for v in others)
            if Y[i] != -1:
                cor += L[i, j] == Y[i]
                inc += L[i, j] != Y[i]
        out.append((cov / n, ovl / n, con / n, cor, inc))
    return out


matrices = st.integers(1, 30).flatmap(
    lambda n: st.integers(1, 6).flatmap(
        lambda m: st.tuples(
            arrays(np.int64, (n, m), elements=st.integers(-1, 3)),
            arrays(np.int64, (n,), elements=st.integers(-1, 3)),
        )
    )
)


@settings(max_examples=200, deadline=None)
@given(matrices)
def test_statistics_match_a_row_by_row_computation(data):
    L, Y = data
    got = [(s.coverage, s.overlaps, s.conflicts, s.correct, s.incorrect) for s in lf_stats(L, Y)]
    assert got == _naive(L, Y)
    whole = matrix_stats(L, Y)
    rows = [[v for v in row if v != -1] for row in L]
    assert whole.covered == sum(bool(r) for r in rows)
    assert whole.overlapped == sum(len(r) >= 2 for r in rows)
    assert whole.conflicted == sum(len(set(r)) >= 2 for r in rows)


def test_conflict_matrix_counts_pairs_that_disagree():
    cm = conflict_matrix(L_DOC)
    # Only row 2 has a disagreement: LF 0 votes 1, LF 1 votes 0.
    assert cm[0, 1] == cm[1, 0] == 0.2
    assert cm[0, 2] == cm[1, 2] == 0.0
    assert np.all(np.diag(cm) == 0)
