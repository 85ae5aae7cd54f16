"""The vectorised agreement figures equal their textbook definitions, written here as plain loops, for k = 2..20."""

import numpy as np
import pytest

from labeling.engine.agreement import (
    agreement,
    gold_agreement,
    krippendorff_alpha,
    pairwise_agreement,
)


def sparse_matrix(rng, n, m, k, share):
    """Random labels; each annotator labels a share of the items, with a bias to each item's own class."""
    truth = rng.integers(0, k, n)
    L = np.where(rng.random((n, m)) < 0.6, truth[:, None], rng.integers(0, k, (n, m)))
    return np.where(rng.random((n, m)) < share, L, -1)


def cohen_by_hand(a, b, k):
    both = (a != -1) & (b != -1)
    a, b = a[both], b[both]
    if len(a) == 0:
        return 0, None, None
    p_o = float(np.mean(a == b))
    p_e = sum(float(np.mean(a == c)) * float(np.mean(b == c)) for c in range(k))
    return len(a), p_o, None if p_e == 1.0 else (p_o - p_e) / (1 - p_e)


def alpha_by_hand(L, k):
    """Krippendorff's coincidence matrix, one unit and one ordered pair of labels at a time."""
    o = np.zeros((k, k))
    for row in L:
        values = [v for v in row if v != -1]
        if len(values) < 2:
            continue
        for i, u in enumerate(values):
            for j, v in enumerate(values):
                if i != j:
                    o[u, v] += 1.0 / (len(values) - 1)
    n_c = o.sum(axis=1)
    n = n_c.sum()
    if n == 0 or (n_c > 0).sum() < 2:
        return None
    d_o = o.sum() - np.trace(o)
    d_e = (np.outer(n_c, n_c).sum() - (n_c**2).sum()) / (n - 1)
    return 1.0 - d_o / d_e


@pytest.mark.parametrize("k", [2, 3, 5, 8, 13, 20])
def test_pair_table_equals_cohen_by_hand(k):
    rng = np.random.default_rng(k)
    L = sparse_matrix(rng, 120, 6, k, share=0.5)
    table = {(p.annotator_a, p.annotator_b): p for p in pairwise_agreement(L, k)}
    for a in range(6):
        for b in range(a + 1, 6):
            n, p_o, kappa = cohen_by_hand(L[:, a], L[:, b], k)
            if n == 0:
                assert (a, b) not in table
                continue
            pair = table[(a, b)]
            assert pair.n_items == n
            assert pair.percent_agreement == pytest.approx(p_o)
            assert pair.kappa == pytest.approx(kappa)


@pytest.mark.parametrize("k", [2, 4, 7, 11, 20])
def test_alpha_equals_the_coincidence_matrix_by_hand(k):
    rng = np.random.default_rng(100 + k)
    L = sparse_matrix(rng, 150, 7, k, share=0.35)
    assert krippendorff_alpha(L, k) == pytest.approx(alpha_by_hand(L, k))


def test_pairs_with_too_few_items_in_common_are_left_out():
    rng = np.random.default_rng(7)
    L = sparse_matrix(rng, 40, 5, 3, share=0.3)
    every = pairwise_agreement(L, 3)
    some = pairwise_agreement(L, 3, min_items=5)
    assert [p for p in every if p.n_items >= 5] == list(some)
    assert len(some) < len(every)


def test_agreement_with_gold_per_annotator():
    # Annotator 0 labels all 4 gold items; annotator 1 labels 2 of them; annotator 2 only an item without gold.
    L = np.array(
        [
            [0, -1, -1],
            [1, 1, -1],
            [1, 1, -1],
            [0, -1, -1],
            [1, 0, 0],  # no gold
        ]
    )
    gold = np.array([0, 1, 0, 0, -1])
    a0, a1, a2 = gold_agreement(L, gold, 2)
    # Annotator 0: labels 0,1,1,0 vs gold 0,1,0,0: 3 of 4. p_o = 0.75; own shares 0.5/0.5, gold 0.75/0.25,
    # p_e = 0.5*0.75 + 0.5*0.25 = 0.5, kappa = 0.25 / 0.5 = 0.5.
    assert (a0.n_items, a0.correct, a0.accuracy, a0.kappa) == (4, 3, 0.75, pytest.approx(0.5))
    # Annotator 1: labels 1,1 vs gold 1,0: 1 of 2; own shares 0/1, gold 0.5/0.5, p_e = 0.5, kappa = 0.
    assert (a1.n_items, a1.correct, a1.accuracy, a1.kappa) == (2, 1, 0.5, pytest.approx(0.0))
    assert (a2.n_items, a2.accuracy, a2.kappa) == (0, None, None)


def test_gold_must_have_one_entry_per_item():
    with pytest.raises(ValueError, match="4 items but gold has 3"):
        gold_agreement(np.zeros((4, 2), dtype=int), np.zeros(3, dtype=int), 2)


def test_summary_of_a_large_crowd_counts_every_pair_of_labels():
    # 20 000 items, 300 annotators, 3 random labels per item (~0.5 s): 3 pairs of labels per item, no agreement
    # beyond chance.
    rng = np.random.default_rng(3)
    n, m, k = 20_000, 300, 4
    L = np.full((n, m), -1)
    who = np.argsort(rng.random((n, m)), axis=1)[:, :3]
    L[np.arange(n)[:, None], who] = rng.integers(0, k, (n, 3))
    s = agreement(L, k)
    assert s.labels_per_item == 3 and s.n_items == n
    assert s.fleiss_kappa is not None and abs(s.fleiss_kappa) < 0.05
    assert sum(p.n_items for p in s.pairs) == 3 * n
