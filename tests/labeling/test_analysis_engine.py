"""The engine's pair counts (conflict and overlap matrices) against a count over every pair and row."""

import numpy as np
import pytest

from labeling.engine import conflict_matrix, overlap_matrix, pair_counts

# METRICS.md's worked example (Snorkel's documentation).
L_DOC = np.array([[-1, 0, 0], [-1, -1, -1], [1, 0, -1], [-1, 0, -1], [0, 0, 0]])


def brute_force(L):
    n, m = L.shape
    both = np.zeros((m, m), dtype=int)
    disagree = np.zeros((m, m), dtype=int)
    for row in L:
        for i in range(m):
            for j in range(m):
                if row[i] != -1 and row[j] != -1:
                    both[i, j] += 1
                    disagree[i, j] += row[i] != row[j]
    return both, disagree


def test_worked_example_by_hand():
    # LF 0 and LF 1 both vote on rows 2 and 4 and disagree on row 2; LF 0 and 2 share row 4 and agree.
    assert conflict_matrix(L_DOC).tolist() == [[0, 0.2, 0], [0.2, 0, 0], [0, 0, 0]]
    # The diagonal is each LF's coverage (0.4, 0.8, 0.4 in METRICS.md).
    assert np.allclose(overlap_matrix(L_DOC), [[0.4, 0.4, 0.2], [0.4, 0.8, 0.4], [0.2, 0.4, 0.4]])


@pytest.mark.parametrize("n", [0, 1, 63, 64, 65, 1000])
@pytest.mark.parametrize("k", [2, 3, 5])
def test_pair_counts_match_a_count_over_every_pair(n, k):
    rng = np.random.default_rng(n * 10 + k)
    L = np.where(rng.random((n, 6)) < 0.4, rng.integers(0, k, (n, 6)), -1)
    both, disagree = pair_counts(L)
    expected_both, expected_disagree = brute_force(L)
    assert both.tolist() == expected_both.tolist()
    assert disagree.tolist() == expected_disagree.tolist()
    # Column-major input (as the refit builds it) gives the same counts.
    assert pair_counts(np.asfortranarray(L))[1].tolist() == expected_disagree.tolist()


def test_no_lfs_and_all_abstain():
    assert pair_counts(np.zeros((5, 0), dtype=int))[0].shape == (0, 0)
    both, disagree = pair_counts(np.full((10, 3), -1))
    assert both.sum() == 0 and disagree.sum() == 0
