"""Majority vote over a label matrix, with an explicit tie policy.

It is the baseline every learned model is compared with, and the fallback when a learned model has too
few sources to be identified.
"""

from __future__ import annotations

import numpy as np

from .matrix import ABSTAIN, check_label_matrix, vote_counts

TIE_POLICIES = ("abstain", "random", "prior")


class MajorityVote:
    """Each class's probability is its share of the (optionally weighted) votes on the row.

    Rows where every source abstains get the class prior (uniform unless fitted or given): they are
    *uninformative*, and `predict` reports them as ABSTAIN under every tie policy except "prior".
    """

    name = "majority_vote"

    def __init__(self, cardinality: int, class_weights=None, seed: int = 0):
        if cardinality < 2:
            raise ValueError(f"cardinality must be at least 2, got {cardinality}")
        self.cardinality = cardinality
        self.class_weights = None if class_weights is None else np.asarray(class_weights, dtype=float)
        self.seed = seed
        self.prior = np.full(cardinality, 1.0 / cardinality)

    def fit(self, L, weights=None, **_ignored) -> MajorityVote:
        """`weights`: how many samples each row of L stands for (distinct rows)."""
        L = check_label_matrix(L, self.cardinality)
        per_row = vote_counts(L, self.cardinality)
        counts = per_row.sum(axis=0) if weights is None else np.asarray(weights) @ per_row
        if counts.sum() > 0:
            self.prior = (counts + 1.0) / (counts.sum() + self.cardinality)
        return self

    def _weighted_counts(self, L) -> np.ndarray:
        counts = vote_counts(L, self.cardinality).astype(float)
        if self.class_weights is not None:
            counts *= self.class_weights[None, :]
        return counts

    def predict_proba(self, L) -> np.ndarray:
        L = check_label_matrix(L, self.cardinality)
        counts = self._weighted_counts(L)
        totals = counts.sum(axis=1, keepdims=True)
        proba = np.where(totals > 0, counts / np.where(totals > 0, totals, 1.0), self.prior[None, :])
        return proba

    def predict(self, L, tie_policy: str = "abstain") -> np.ndarray:
        L = check_label_matrix(L, self.cardinality)
        return predict_from_scores(self._weighted_counts(L), tie_policy, self.prior, self.seed)


def predict_from_scores(scores: np.ndarray, tie_policy: str, prior: np.ndarray, seed: int = 0) -> np.ndarray:
    """Hard labels from per-class scores (vote counts or probabilities).

    A row whose top score is shared by several classes, or whose scores are all zero, is a tie:
    - "abstain": ABSTAIN (-1), counted as uninformative;
    - "random": one of the tied classes, drawn with a seeded generator (same input, same output);
    - "prior": the tied class with the highest prior.
    """
    if tie_policy not in TIE_POLICIES:
        raise ValueError(f"unknown tie policy {tie_policy!r}; choose one of {', '.join(TIE_POLICIES)}")
    n = scores.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    top = scores.max(axis=1, keepdims=True)
    # Within rounding of the top score (np.isclose's test, without its temporaries).
    tied = scores >= top - (1e-12 + 1e-9 * np.abs(top))
    empty = top[:, 0] <= 0
    n_tied = tied.sum(axis=1)
    pred = scores.argmax(axis=1).astype(np.int64)
    ambiguous = (n_tied > 1) | empty
    if not ambiguous.any():
        return pred
    if tie_policy == "abstain":
        pred[ambiguous] = ABSTAIN
    elif tie_policy == "prior":
        # Among the tied classes (all classes for an empty row) take the one the prior favours.
        candidates = np.where(empty[:, None], True, tied)
        pred[ambiguous] = np.argmax(np.where(candidates, prior[None, :], -np.inf), axis=1)[ambiguous]
    else:
        rng = np.random.default_rng(seed)
        candidates = np.where(empty[:, None], True, tied)[ambiguous]
        noise = rng.random(candidates.shape)
        pred[ambiguous] = np.argmax(np.where(candidates, noise, -1.0), axis=1)
    return pred
