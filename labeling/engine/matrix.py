"""The label matrix: checks and the one-pass counts every model and statistic is built from."""

from __future__ import annotations

import numpy as np

ABSTAIN = -1


def check_label_matrix(L, cardinality: int | None = None) -> np.ndarray:
    """Return L as a 2-d integer array, or raise ValueError naming what is wrong with it."""
    L = np.asarray(L)
    if L.ndim != 2:
        raise ValueError(f"the label matrix must be 2-dimensional (samples x sources), got shape {L.shape}")
    if L.size and not np.issubdtype(L.dtype, np.integer):
        if not np.all(np.equal(np.mod(L, 1), 0)):
            raise ValueError("the label matrix must hold integer votes (-1 for abstain)")
        L = L.astype(np.int64)
    if L.size:
        low = int(L.min())
        if low < ABSTAIN:
            raise ValueError(f"votes must be -1 (abstain) or a class index, found {low}")
        if cardinality is not None and int(L.max()) >= cardinality:
            raise ValueError(
                f"a vote of {int(L.max())} is outside the {cardinality} classes (0..{cardinality - 1})"
            )
    return L


def vote_counts(L: np.ndarray, cardinality: int) -> np.ndarray:
    """n x k array: how many sources voted each class on each row (vectorised, no per-row Python)."""
    n = L.shape[0]
    counts = np.zeros((n, cardinality), dtype=np.int64)
    if L.size == 0:
        return counts
    for c in range(cardinality):
        counts[:, c] = (L == c).sum(axis=1)
    return counts
