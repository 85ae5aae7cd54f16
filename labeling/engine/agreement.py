"""Agreement between annotators: percent agreement, Cohen's kappa per pair, Fleiss' kappa, Krippendorff's alpha.

Input is a label matrix like every other in the engine: one row per item (sample), one column per
annotator, -1 where the annotator did not label the item, classes 0..k-1. The definitions are METRICS.md's
("Agreement between annotators"); every figure is a share in [0, 1] (or a coefficient in [-1, 1]), never a
percent, like coverage and accuracy in analysis.py and metrics.py.

Undefined is None, never 0 or NaN:
- no item labeled by two annotators (by both annotators of a pair): every figure is None;
- chance agreement of 1 (every label counted is one and the same class): kappa and alpha are 0/0, since
  agreement beyond chance cannot be measured when there is no variation at all. They are None, and the
  percent agreement (1.0) says the annotators agreed.
Items with fewer than two labels never count: nobody agreed or disagreed on them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .matrix import ABSTAIN, check_label_matrix, vote_counts


@dataclass(frozen=True)
class PairAgreement:
    """Two annotators (column indices, a < b) over the items both labeled."""

    annotator_a: int
    annotator_b: int
    n_items: int
    percent_agreement: float | None
    kappa: float | None


@dataclass(frozen=True)
class GoldAgreement:
    """One annotator against the gold labels, over the gold items they labeled."""

    annotator: int
    n_items: int
    correct: int
    accuracy: float | None
    kappa: float | None


@dataclass(frozen=True)
class Agreement:
    """A project's agreement over the items with at least two labels.

    labels_per_item is that number when it is the same on every counted item, else None; Fleiss' kappa
    needs it fixed, so it is None then too (Krippendorff's alpha is the figure for a varying overlap).
    pairs lists the pairs of annotators with at least one item in common, ordered by (a, b).
    """

    n_items: int
    n_labels: int
    labels_per_item: int | None
    percent_agreement: float | None
    fleiss_kappa: float | None
    krippendorff_alpha: float | None
    pairs: tuple[PairAgreement, ...]


def _check(L, cardinality: int) -> np.ndarray:
    if cardinality < 2:
        raise ValueError(f"cardinality must be at least 2, got {cardinality}")
    return check_label_matrix(L, cardinality)


def _counted(L: np.ndarray, cardinality: int) -> np.ndarray:
    """Per-item class counts of the items with at least two labels (the only ones that count)."""
    counts = vote_counts(L, cardinality)
    return counts[counts.sum(axis=1) >= 2]


def _single_class(counts: np.ndarray) -> bool:
    return int((counts.sum(axis=0) > 0).sum()) <= 1


def percent_agreement(L, cardinality: int) -> float | None:
    """Mean over the counted items of the share of agreeing pairs among the item's pairs of labels.

    With two annotators per item it is the share of items where they agree; with a fixed number per
    item it is Fleiss' P-bar.
    """
    counts = _counted(_check(L, cardinality), cardinality)
    if len(counts) == 0:
        return None
    return float(_item_agreement(counts).mean())


def _item_agreement(counts: np.ndarray) -> np.ndarray:
    r = counts.sum(axis=1).astype(float)
    return ((counts.astype(float) ** 2).sum(axis=1) - r) / (r * (r - 1.0))


def fleiss_kappa(L, cardinality: int) -> float | None:
    """Fleiss (1971): every counted item must carry the same number of labels, else ValueError.

    The columns need not be the same annotators on every item (Fleiss' own example had different
    raters per patient); only the count per item matters.
    """
    counts = _counted(_check(L, cardinality), cardinality)
    if len(counts) == 0:
        return None
    per_item = counts.sum(axis=1)
    sizes, how_many = np.unique(per_item, return_counts=True)
    if len(sizes) > 1:
        spread = ", ".join(f"{c} items have {s} labels" for s, c in zip(sizes, how_many, strict=True))
        raise ValueError(
            "Fleiss' kappa needs the same number of labels on every item labeled at least twice "
            f"({spread}); use Krippendorff's alpha when the overlap varies"
        )
    return _fleiss(counts)


def _fleiss(counts: np.ndarray) -> float | None:
    if _single_class(counts):
        return None
    p_bar = float(_item_agreement(counts).mean())
    shares = counts.sum(axis=0) / counts.sum()
    p_e = float((shares**2).sum())
    return (p_bar - p_e) / (1.0 - p_e)


def krippendorff_alpha(L, cardinality: int) -> float | None:
    """Krippendorff's alpha for nominal data, any number of labels per item (items with one do not count).

    From the coincidence matrix o[c, k] = sum over items of (c-k pairs of labels on the item) / (m_u - 1):
    alpha = 1 - (n - 1) * (n - sum_c o[c, c]) / (n^2 - sum_c n_c^2), n_c the row sums of o, n their total.
    """
    return _alpha(_counted(_check(L, cardinality), cardinality))


def _alpha(counts: np.ndarray) -> float | None:
    if len(counts) == 0 or _single_class(counts):
        return None
    c = counts.astype(float)
    m_u = c.sum(axis=1)
    # Only the diagonal of the coincidence matrix is needed: its rows sum to n_c, the class totals.
    agreeing = float((c * (c - 1.0) / (m_u - 1.0)[:, None]).sum())
    n_c = c.sum(axis=0)
    n = float(n_c.sum())
    return 1.0 - (n - 1.0) * (n - agreeing) / (n * n - float((n_c**2).sum()))


# -- pairs ---------------------------------------------------------------------------------------


def _indicators(L: np.ndarray, cardinality: int) -> tuple[sp.csc_matrix, list[sp.csc_matrix]]:
    """Sparse n x m integer indicators: "labeled" and, per class c, "labeled c" (memory ~ the labels)."""
    rows, cols = np.nonzero(L != ABSTAIN)
    values = L[rows, cols]
    shape = L.shape
    labeled = sp.csc_matrix((np.ones(len(rows), dtype=np.int64), (rows, cols)), shape=shape)
    per_class = []
    for c in range(cardinality):
        pick = values == c
        per_class.append(
            sp.csc_matrix((np.ones(int(pick.sum()), dtype=np.int64), (rows[pick], cols[pick])), shape=shape)
        )
    return labeled, per_class


def _cross(Lx: np.ndarray, Ly: np.ndarray, cardinality: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every column a of Lx and b of Ly, over the items both labeled: (N, A, E) as exact integers.

    N = items in common, A = items where they agree, E = sum_c (a's count of c) * (b's count of c), so
    p_o = A / N, p_e = E / N^2 and Cohen's kappa = (N A - E) / (N^2 - E). One sparse product per class,
    no loop over items or pairs.
    """
    Vx, Xs = _indicators(Lx, cardinality)
    Vy, Ys = _indicators(Ly, cardinality)
    N = (Vx.T @ Vy).toarray()
    A = np.zeros_like(N)
    E = np.zeros_like(N)
    for Xc, Yc in zip(Xs, Ys, strict=True):
        A += (Xc.T @ Yc).toarray()
        E += (Xc.T @ Vy).toarray() * (Vx.T @ Yc).toarray()
    return N, A, E


def _kappa(N: int, A: int, E: int) -> float | None:
    # E == N^2 only when both sides used one and the same class throughout (then A == N too).
    if N == 0 or E == N * N:
        return None
    return (N * A - E) / (N * N - E)


def _pair(a: int, b: int, N: int, A: int, E: int) -> PairAgreement:
    return PairAgreement(a, b, N, A / N if N else None, _kappa(N, A, E))


def pair_agreement(L, cardinality: int, a: int, b: int) -> PairAgreement:
    """Percent agreement and Cohen's kappa of annotators a and b (columns of L) on the items both labeled.

    p_e comes from each annotator's own label distribution over those items (Cohen 1960).
    """
    L = _check(L, cardinality)
    if a == b:
        raise ValueError("a pair needs two different annotators")
    m = L.shape[1]
    for j in (a, b):
        if not 0 <= j < m:
            raise ValueError(f"annotator {j} is not a column of the label matrix (0..{m - 1})")
    N, A, E = (int(x[0, 0]) for x in _cross(L[:, [a]], L[:, [b]], cardinality))
    lo, hi = sorted((a, b))
    return _pair(lo, hi, N, A, E)


def cohen_kappa(L, cardinality: int, a: int = 0, b: int = 1) -> float | None:
    """Cohen's kappa of columns a and b; None when undefined (see the module docstring)."""
    return pair_agreement(L, cardinality, a, b).kappa


def pairwise_agreement(L, cardinality: int, min_items: int = 1) -> tuple[PairAgreement, ...]:
    """Every pair of annotators with at least min_items items in common, ordered by (a, b)."""
    L = _check(L, cardinality)
    N, A, E = _cross(L, L, cardinality)
    a_ix, b_ix = np.nonzero(np.triu(N >= max(min_items, 1), k=1))
    return tuple(
        _pair(int(a), int(b), int(N[a, b]), int(A[a, b]), int(E[a, b]))
        for a, b in zip(a_ix, b_ix, strict=True)
    )


def gold_agreement(L, gold, cardinality: int) -> tuple[GoldAgreement, ...]:
    """Each annotator against the gold labels (gold is -1 where an item has none), one entry per column.

    Accuracy is the share of their labels on gold items that equal gold; kappa treats gold as a second
    annotator. Both are None for an annotator who labeled no gold item.
    """
    L = _check(L, cardinality)
    g = check_label_matrix(np.asarray(gold).reshape(-1, 1), cardinality)
    if g.shape[0] != L.shape[0]:
        raise ValueError(f"the label matrix has {L.shape[0]} items but gold has {g.shape[0]} labels")
    N, A, E = (x[:, 0] for x in _cross(L, g, cardinality))
    return tuple(
        GoldAgreement(
            j,
            int(N[j]),
            int(A[j]),
            int(A[j]) / int(N[j]) if N[j] else None,
            _kappa(int(N[j]), int(A[j]), int(E[j])),
        )
        for j in range(L.shape[1])
    )


def agreement(L, cardinality: int) -> Agreement:
    """The whole picture for a project: the summary figures and the table of pairs."""
    L = _check(L, cardinality)
    counts = _counted(L, cardinality)
    pairs = pairwise_agreement(L, cardinality)
    if len(counts) == 0:
        return Agreement(0, 0, None, None, None, None, pairs)
    sizes = np.unique(counts.sum(axis=1))
    fixed = int(sizes[0]) if len(sizes) == 1 else None
    return Agreement(
        n_items=len(counts),
        n_labels=int(counts.sum()),
        labels_per_item=fixed,
        percent_agreement=float(_item_agreement(counts).mean()),
        fleiss_kappa=_fleiss(counts) if fixed is not None else None,
        krippendorff_alpha=_alpha(counts),
        pairs=pairs,
    )
