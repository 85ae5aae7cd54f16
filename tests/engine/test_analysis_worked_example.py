"""METRICS.md's worked example (Snorkel's own documentation): lf_stats and matrix_stats give its values."""

import numpy as np
import pytest

from labeling.engine import lf_stats, matrix_stats

L = np.array([[-1, 0, 0], [-1, -1, -1], [1, 0, -1], [-1, 0, -1], [0, 0, 0]])
Y = np.array([0, 1, 1, 0, 1])


def test_per_lf_figures_match_snorkel():
    stats = lf_stats(L, Y)
    assert [s.coverage for s in stats] == pytest.approx([0.4, 0.8, 0.4])
    assert [s.overlaps for s in stats] == pytest.approx([0.4, 0.6, 0.4])
    assert [s.conflicts for s in stats] == pytest.approx([0.2, 0.2, 0.0])
    assert [s.polarity for s in stats] == [(0, 1), (0,), (0,)]
    assert [(s.correct, s.incorrect) for s in stats] == [(1, 1), (2, 2), (1, 1)]
    assert [s.empirical_accuracy for s in stats] == pytest.approx([0.5, 0.5, 0.5])


def test_whole_matrix_figures_match_snorkel():
    s = matrix_stats(L, Y)
    assert (s.coverage, s.overlap, s.conflict) == pytest.approx((0.8, 0.6, 0.2))


def test_empirical_accuracy_is_none_without_gold_votes():
    stats = lf_stats(L, np.full(5, -1))
    assert all(s.empirical_accuracy is None for s in stats)
