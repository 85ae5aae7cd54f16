"""Per-LF and whole-matrix statistics, with the definitions of Snorkel 0.10's LFAnalysis (see METRICS.md)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .matrix import ABSTAIN, check_label_matrix


@dataclass(frozen=True)
class LFStats:
    coverage: float
    overlaps: float
    conflicts: float
    polarity: tuple[int, ...]
    correct: int | None
    incorrect: int | None
    # None when the LF votes on no gold row ("n/a"), never 0.
    empirical_accuracy: float | None


@dataclass(frozen=True)
class MatrixStats:
    n: int
    coverage: float
    overlap: float
    conflict: float
    # All correct votes / all votes on gold rows, from totals (None without gold votes).
    precision: float | None
    covered: int
    overlapped: int
    conflicted: int


def _share(mask: np.ndarray) -> float:
    return float(mask.mean()) if mask.size else 0.0


def row_masks(L: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: has a vote, has two or more votes, has two or more different labels among its votes."""
    voted = L != ABSTAIN
    n_votes = voted.sum(axis=1)
    if L.shape[1] == 0:
        empty = np.zeros(L.shape[0], dtype=bool)
        return empty, empty, empty
    big = np.iinfo(np.int64).max
    L64 = L.astype(np.int64)
    low = np.where(voted, L64, big).min(axis=1)
    high = np.where(voted, L64, -1).max(axis=1)
    return n_votes >= 1, n_votes >= 2, (n_votes >= 2) & (low != high)


def lf_stats(L, Y=None) -> list[LFStats]:
    """One LFStats per column of L. Y holds gold labels, -1 where a row has none (or Y is None)."""
    L = check_label_matrix(L)
    n, m = L.shape
    voted = L != ABSTAIN
    n_votes = voted.sum(axis=1)
    gold = None if Y is None else np.asarray(Y, dtype=np.int64)
    if gold is not None and gold.shape != (n,):
        raise ValueError(f"gold labels must have one entry per row ({n}), got shape {gold.shape}")
    out = []
    for j in range(m):
        col = L[:, j]
        vj = voted[:, j]
        others = n_votes - vj
        overlaps = vj & (others > 0)
        # A conflict: another LF votes on the row with a label different from this LF's.
        other_differs = ((L != col[:, None]) & voted).sum(axis=1) > 0
        conflicts = vj & other_differs
        polarity = tuple(int(v) for v in np.unique(col[vj]))
        correct = incorrect = None
        accuracy = None
        if gold is not None:
            on_gold = vj & (gold != ABSTAIN)
            correct = int((col[on_gold] == gold[on_gold]).sum())
            incorrect = int(on_gold.sum()) - correct
            if correct + incorrect:
                accuracy = correct / (correct + incorrect)
        out.append(
            LFStats(
                coverage=_share(vj),
                overlaps=_share(overlaps),
                conflicts=_share(conflicts),
                polarity=polarity,
                correct=correct,
                incorrect=incorrect,
                empirical_accuracy=accuracy,
            )
        )
    return out


def matrix_stats(L, Y=None) -> MatrixStats:
    L = check_label_matrix(L)
    covered, overlapped, conflicted = row_masks(L)
    precision = None
    if Y is not None:
        gold = np.asarray(Y, dtype=np.int64)
        on_gold = (L != ABSTAIN) & (gold[:, None] != ABSTAIN)
        total = int(on_gold.sum())
        if total:
            precision = int(((L == gold[:, None]) & on_gold).sum()) / total
    return MatrixStats(
        n=int(L.shape[0]),
        coverage=_share(covered),
        overlap=_share(overlapped),
        conflict=_share(conflicted),
        precision=precision,
        covered=int(covered.sum()),
        overlapped=int(overlapped.sum()),
        conflicted=int(conflicted.sum()),
    )


def conflict_matrix(L) -> np.ndarray:
    """m x m: share of rows where LF i and LF j both vote and disagree (diagonal 0)."""
    L = check_label_matrix(L)
    n, m = L.shape
    out = np.zeros((m, m))
    if n == 0:
        return out
    voted = L != ABSTAIN
    for i in range(m):
        both = voted[:, i, None] & voted
        out[i] = (both & (L[:, i, None] != L)).sum(axis=0) / n
    return out
