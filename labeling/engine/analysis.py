"""Per-LF and whole-matrix statistics, with the definitions of Snorkel 0.10's LFAnalysis (see METRICS.md)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .matrix import ABSTAIN, check_label_matrix, vote_counts


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
    n = L.shape[0]
    if L.shape[1] == 0 or n == 0:
        empty = np.zeros(n, dtype=bool)
        return empty, empty, empty
    k = int(L.max()) + 1 if L.max() >= 0 else 1
    counts = vote_counts(L, k)
    n_votes = counts.sum(axis=1)
    distinct = (counts > 0).sum(axis=1)
    return n_votes >= 1, n_votes >= 2, distinct >= 2


def lf_stats(L, Y=None) -> list[LFStats]:
    """One LFStats per column of L. Y holds gold labels, -1 where a row has none (or Y is None).

    Cost O(n·m·k) in cheap whole-column operations: a conflict for LF j on a row where it votes c is "the
    row's votes outnumber its votes for c", read off the per-row class counts computed once.
    """
    L = check_label_matrix(L)
    n, m = L.shape
    gold = None if Y is None else np.asarray(Y, dtype=np.int64)
    if gold is not None and gold.shape != (n,):
        raise ValueError(f"gold labels must have one entry per row ({n}), got shape {gold.shape}")
    # Column-major, so each LF's column is contiguous in the loop below.
    F = np.asfortranarray(L)
    voted = F != ABSTAIN
    n_votes = voted.sum(axis=1)
    k = int(L.max()) + 1 if L.size and L.max() >= 0 else 1
    counts = vote_counts(F, k)
    multi = n_votes > 1
    outvoted = [n_votes > counts[:, c] for c in range(k)]
    gold_rows = None if gold is None else np.flatnonzero(gold != ABSTAIN)
    out = []
    for j in range(m):
        col = F[:, j]
        vj = voted[:, j]
        covered = int(vj.sum())
        overlaps = int((vj & multi).sum())
        conflicts = 0
        polarity = []
        for c in range(k):
            is_c = col == c
            if is_c.any():
                polarity.append(c)
                conflicts += int((is_c & outvoted[c]).sum())
        correct = incorrect = None
        accuracy = None
        if gold is not None and gold_rows is not None:
            g = gold[gold_rows]
            v = col[gold_rows]
            on_gold = v != ABSTAIN
            correct = int((v[on_gold] == g[on_gold]).sum())
            incorrect = int(on_gold.sum()) - correct
            if correct + incorrect:
                accuracy = correct / (correct + incorrect)
        out.append(
            LFStats(
                coverage=covered / n if n else 0.0,
                overlaps=overlaps / n if n else 0.0,
                conflicts=conflicts / n if n else 0.0,
                polarity=tuple(polarity),
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


def _packed_columns(mask_t: np.ndarray) -> np.ndarray:
    """m x n booleans -> m x ceil(n/64) uint64 words, so a pair count is an AND and a popcount."""
    packed = np.packbits(mask_t, axis=1)
    pad = (-packed.shape[1]) % 8
    if pad:
        packed = np.pad(packed, ((0, 0), (0, pad)))
    return packed.view(np.uint64)


def _gram(words: np.ndarray) -> np.ndarray:
    m = words.shape[0]
    out = np.zeros((m, m), dtype=np.int64)
    for i in range(m):
        row = np.bitwise_count(words[i] & words[i:]).sum(axis=1, dtype=np.int64)
        out[i, i:] = row
        out[i:, i] = row
    return out


def pair_counts(L) -> tuple[np.ndarray, np.ndarray]:
    """m x m counts: rows where LFs i and j both vote, and rows where they both vote and disagree.

    Each LF's "votes" and "votes class c" columns are packed to bits; a pair count is then a popcount of
    the AND of two bit columns (n/64 words), so 50 LFs over 1M rows cost about a second rather than a pass
    over the rows per pair. disagree = both − Σ_c (both vote c). A column-major L (as the refit builds it)
    is transposed for free.
    """
    L = check_label_matrix(L)
    n, m = L.shape
    if n == 0 or m == 0:
        zeros = np.zeros((m, m), dtype=np.int64)
        return zeros, zeros.copy()
    columns = np.asfortranarray(L).T  # m x n, C-contiguous
    k = int(L.max()) + 1 if L.max() >= 0 else 0
    both = _gram(_packed_columns(columns != ABSTAIN))
    agree = np.zeros((m, m), dtype=np.int64)
    for c in range(k):
        agree += _gram(_packed_columns(columns == c))
    return both, both - agree


def conflict_matrix(L) -> np.ndarray:
    """m x m: share of rows where LF i and LF j both vote and disagree (diagonal 0)."""
    L = check_label_matrix(L)
    n, m = L.shape
    if n == 0:
        return np.zeros((m, m))
    return pair_counts(L)[1] / n


def overlap_matrix(L) -> np.ndarray:
    """m x m: share of rows where LF i and LF j both vote (the diagonal is each LF's coverage)."""
    L = check_label_matrix(L)
    n, m = L.shape
    if n == 0:
        return np.zeros((m, m))
    return pair_counts(L)[0] / n
