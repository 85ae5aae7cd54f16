"""Dawid–Skene: EM over one confusion matrix per source and the class prior.

Each source j has theta[j, y, o] = P(source j gives outcome o | true class y). With abstain as an outcome
(labeling functions) o runs over the k classes and abstain; with abstain ignored (crowd annotators) o runs
over the k classes and theta is conditional on the source voting. The mode is per source, so a matrix can
mix both kinds; see sources.py for the automatic rule.
"""

from __future__ import annotations

import numpy as np

from .matrix import ABSTAIN, check_label_matrix
from .sources import (
    ConfusionModel,
    check_prior,
    class_vote_counts,
    onehot_votes,
    resolve_abstain,
    softmax_rows,
    unique_rows,
)

# Rows EM runs on at most (see fit).
MAX_ROWS = 1 << 17


class DawidSkene(ConfusionModel):
    name = "dawid_skene"

    def __init__(
        self,
        cardinality: int,
        abstain="auto",
        smoothing: float = 1.0,
        max_iter: int = 200,
        tol: float = 1e-7,
        class_prior=None,
        max_rows: int | None = MAX_ROWS,
        seed: int = 0,
    ):
        super().__init__(cardinality, abstain=abstain, seed=seed)
        if smoothing < 0:
            raise ValueError(f"smoothing must be non-negative, got {smoothing}")
        self.smoothing = float(smoothing)
        self.max_iter = max_iter
        self.tol = tol
        self.fixed_prior = None if class_prior is None else check_prior(class_prior, cardinality)
        self.max_rows = max_rows
        self.n_iter = 0
        self.converged = False

    def fit(self, L, counts: np.ndarray | None = None) -> DawidSkene:
        """`counts` (class_vote_counts of L) saves a pass when the caller has it already."""
        k = self.cardinality
        L = check_label_matrix(L, k)
        n, m = L.shape
        outcome = resolve_abstain(self.abstain, class_vote_counts(L, k) if counts is None else counts)
        self.abstain_outcome = outcome
        if self.max_rows is not None and n > self.max_rows:
            # EM costs O(rows x sources) per iteration. Past max_rows more rows no longer move the
            # estimates (each source's accuracy is known to well under 0.01), so EM runs on a seeded
            # sample of rows and only the prediction pass sees them all.
            rows = np.sort(np.random.default_rng(self.seed).choice(n, self.max_rows, replace=False))
            L = L[rows]
        U, weight, _ = unique_rows(L)
        if not outcome.any():
            # With abstain ignored, a row without votes says nothing about anything, the prior included.
            keep = (U != ABSTAIN).any(axis=1)
            U, weight = U[keep], weight[keep]
        V = onehot_votes(U, k)
        w = weight.astype(float)[:, None]
        # Initialise from majority vote: each row's vote shares (uniform where nobody votes).
        votes = (V @ np.tile(np.eye(k), (m, 1))) if m else np.zeros((U.shape[0], k))
        tot = votes.sum(axis=1, keepdims=True)
        q = np.where(tot > 0, votes / np.where(tot > 0, tot, 1.0), 1.0 / k)
        previous = -np.inf
        self.converged = False
        self.n_iter = 0
        for it in range(1, self.max_iter + 1):
            self._m_step(V, w, q, m, outcome)
            scores = self._scores_sparse(V, m)
            top = scores.max(axis=1, keepdims=True)
            loglik = float((w[:, 0] * (top[:, 0] + np.log(np.exp(scores - top).sum(axis=1)))).sum())
            q = softmax_rows(scores)
            self.n_iter = it
            if abs(loglik - previous) <= self.tol * max(1.0, abs(loglik)):
                self.converged = True
                break
            previous = loglik
        self._m_step(V, w, q, m, outcome)
        self._learned_accuracies(V, w, q, m)
        return self

    def _m_step(self, V, w, q, m, outcome) -> None:
        k = self.cardinality
        wq = w * q
        # cnt[j, y, l]: expected number of rows of class y where source j voted l.
        cnt = np.asarray(V.T @ wq).reshape(m, k, k).transpose(0, 2, 1)
        # The abstains of an outcome source are the rest of its class mass; an ignoring source has none
        # (and no smoothing there, so theta[j, y, k] stays 0).
        abst = np.maximum(wq.sum(axis=0)[None, :] - cnt.sum(axis=2), 0.0)
        cnt = np.concatenate([cnt + self.smoothing, (abst + self.smoothing)[:, :, None]], axis=2)
        cnt[~outcome, :, k] = 0.0
        self.theta = cnt / cnt.sum(axis=2, keepdims=True)
        if self.fixed_prior is not None:
            self.prior = self.fixed_prior
        else:
            mass = wq.sum(axis=0) + 1.0
            self.prior = mass / mass.sum()

    def _scores_sparse(self, V, m) -> np.ndarray:
        table, base = self.tables()
        return base[None, :] + np.asarray(V @ table[:, 1:, :].reshape(m * self.cardinality, self.cardinality))

    def _learned_accuracies(self, V, w, q, m) -> None:
        """P(source j is right | it votes), from the posterior: E[share of j's votes equal to the truth]."""
        k = self.cardinality
        cnt = np.asarray(V.T @ (w * q)).reshape(m, k, k)  # [j, l, y]
        votes = cnt.sum(axis=(1, 2))
        right = np.einsum("jcc->j", cnt)
        self.learned_accuracies = np.where(votes > 0, right / np.where(votes > 0, votes, 1.0), np.nan)
