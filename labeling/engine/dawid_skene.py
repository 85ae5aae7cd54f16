"""Dawid–Skene: EM over one confusion matrix per source and the class prior.

Each source j has theta[j, y, o] = P(source j gives outcome o | true class y). With abstain as an outcome
(labeling functions) o runs over the k classes and abstain; with abstain ignored (crowd annotators) o runs
over the k classes and theta is conditional on the source voting. The mode is per source, so a matrix can
mix both kinds; see sources.py for the automatic rule.

`pool` shrinks each annotator's confusion matrix towards the crowd's: the M-step adds pool x k pseudo-votes
to each of its class rows, spread as the pooled confusion of all annotators (the sources whose abstain is
ignored), so an annotator with a few dozen labels over k classes is not read from a handful of counts per
cell. Empirical Bayes with a fixed prior strength, re-estimated every iteration; `smoothing` (pseudo-counts
spread evenly) applies to the other sources: labeling functions, which are not alike, are not pooled.
On crowd face_sentiment (k = 4, a median 56 labels per annotator) it is what tells the annotators' shared
lean towards class 0 from a class prior leaning there (64.2 % without pooling, 65.4 % with it).
"""

from __future__ import annotations

import numpy as np

from .matrix import check_label_matrix
from .sources import (
    ConfusionModel,
    check_prior,
    class_vote_counts,
    onehot_votes,
    resolve_abstain,
    row_has_vote,
    softmax_rows_lse,
    unique_rows,
)

# Rows EM runs on at most (see fit).
MAX_ROWS = 1 << 17
# Pseudo-count per cell of a pooled source besides the crowd's prior (see `pool`).
POOL_FLOOR = 0.01
# Fewer annotators than this are not pooled: empirical Bayes needs a crowd to estimate the crowd from. With
# five, one of them perfect and the others right 76 % of the time (k = 5), the pooled prior pulled the
# perfect one to 0.93 and cost 4 points; a project team of a few experts is left as it is.
POOL_MIN_SOURCES = 10


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
        pool: float = 0.0,
    ):
        super().__init__(cardinality, abstain=abstain, seed=seed)
        if smoothing < 0:
            raise ValueError(f"smoothing must be non-negative, got {smoothing}")
        if pool < 0:
            raise ValueError(f"pool must be non-negative, got {pool}")
        self.smoothing = float(smoothing)
        self.pool = float(pool)
        self.max_iter = max_iter
        self.tol = tol
        self.fixed_prior = None if class_prior is None else check_prior(class_prior, cardinality)
        self.max_rows = max_rows
        self.n_iter = 0
        self.converged = False
        # Of the rows EM ran on, at the last E-step (a model-choice criterion compares it across fits).
        self.log_likelihood = 0.0

    def fit(self, L, counts: np.ndarray | None = None, weights=None) -> DawidSkene:
        """`counts` (class_vote_counts of L) saves a pass when the caller has it already.

        `weights`: how many samples each row of L stands for (L then holds distinct rows, see
        unique_rows); the fit is the fit on the expanded matrix, and no row is sampled away.
        """
        k = self.cardinality
        L = check_label_matrix(L, k)
        n, m = L.shape
        if weights is not None:
            weights = np.asarray(weights, dtype=np.int64)
            if weights.shape != (n,):
                raise ValueError(f"weights has shape {weights.shape}, the label matrix has {n} rows")
        if counts is None:
            counts = class_vote_counts(L, k, weights=weights)
        outcome = resolve_abstain(self.abstain, counts)
        self.abstain_outcome = outcome
        if weights is not None:
            U, weight = L, weights
        elif self.max_rows is not None and n > self.max_rows:
            # EM costs O(rows x sources) per iteration. Past max_rows more rows no longer move the
            # estimates (each source's accuracy is known to well under 0.01), so EM runs on a seeded
            # sample of rows and only the prediction pass sees them all.
            rows = np.sort(np.random.default_rng(self.seed).choice(n, self.max_rows, replace=False))
            U, weight, _ = unique_rows(L[rows], k)
        else:
            U, weight, _ = unique_rows(L, k)
        if not outcome.any():
            # With abstain ignored, a row without votes says nothing about anything, the prior included.
            keep = row_has_vote(U)
            U, weight = U[keep], weight[keep]
        V = onehot_votes(U, k)
        # The M-step's product with V's transpose, kept as its own CSR (faster than through CSC).
        VT = V.T.tocsr()
        w = weight.astype(float)[:, None]
        # Initialise from majority vote: each row's vote shares (uniform where nobody votes).
        votes = (V @ np.tile(np.eye(k), (m, 1))) if m else np.zeros((U.shape[0], k))
        tot = votes.sum(axis=1, keepdims=True)
        q = np.where(tot > 0, votes / np.where(tot > 0, tot, 1.0), 1.0 / k)
        previous = -np.inf
        self.converged = False
        self.n_iter = 0
        for it in range(1, self.max_iter + 1):
            self._m_step(VT, w, q, m, outcome)
            q, lse = softmax_rows_lse(self._scores_sparse(V, m))
            loglik = float(w[:, 0] @ lse)
            self.n_iter = it
            self.log_likelihood = loglik
            if abs(loglik - previous) <= self.tol * max(1.0, abs(loglik)):
                self.converged = True
                break
            previous = loglik
        self._m_step(VT, w, q, m, outcome)
        self._learned_accuracies(VT, w, q, m)
        return self

    def _m_step(self, VT, w, q, m, outcome) -> None:
        k = self.cardinality
        wq = w * q
        # cnt[j, y, l]: expected number of rows of class y where source j voted l.
        cnt = np.asarray(VT @ wq).reshape(m, k, k).transpose(0, 2, 1)
        # The abstains of an outcome source are the rest of its class mass; an ignoring source has none
        # (and no smoothing there, so theta[j, y, k] stays 0).
        abst = np.maximum(wq.sum(axis=0)[None, :] - cnt.sum(axis=2), 0.0)
        prior_counts = np.full((m, 1, 1), self.smoothing)
        pooled_sources = (
            ~outcome if self.pool > 0 and (~outcome).sum() >= POOL_MIN_SOURCES else np.zeros(m, dtype=bool)
        )
        if pooled_sources.any():
            # The crowd's confusion: every annotator's expected counts summed, each class row normalised;
            # a pooled source gets it as its prior instead of the even smoothing (a floor keeps every
            # cell possible).
            pooled = cnt[pooled_sources].sum(axis=0)
            pooled = pooled / np.maximum(pooled.sum(axis=1, keepdims=True), 1e-12)
            cnt = cnt.copy()
            cnt[pooled_sources] += self.pool * k * pooled[None, :, :]
            prior_counts[pooled_sources] = POOL_FLOOR
        cnt = np.concatenate([cnt + prior_counts, (abst[:, :, None] + prior_counts)], axis=2)
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

    def _learned_accuracies(self, VT, w, q, m) -> None:
        """P(source j is right | it votes), from the posterior: E[share of j's votes equal to the truth]."""
        k = self.cardinality
        cnt = np.asarray(VT @ (w * q)).reshape(m, k, k)  # [j, l, y]
        votes = cnt.sum(axis=(1, 2))
        right = np.einsum("jcc->j", cnt)
        self.learned_accuracies = np.where(votes > 0, right / np.where(votes > 0, votes, 1.0), np.nan)
