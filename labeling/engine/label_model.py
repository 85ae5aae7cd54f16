"""LabelModel: the label model the platform uses, an automatic choice among the engine's models.

With gold on the dev split it fits every candidate (model and a few settings) and keeps the best by dev
score; without gold it uses the documented default. It records what it picked, why, and every score.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .majority import TIE_POLICIES, MajorityVote, predict_from_scores
from .matrix import ABSTAIN, check_label_matrix

MODELS = ("majority_vote",)

# The learned models need at least this many sources to be identified (three views of the same truth).
MIN_SOURCES_TO_LEARN = 3


class LabelModel:
    """The automatic choice. `model=` fixes the model instead (a project setting)."""

    def __init__(self, cardinality: int, seed: int = 0, model: str | None = None):
        if cardinality < 2:
            raise ValueError(f"cardinality must be at least 2, got {cardinality}")
        if model is not None and model not in MODELS:
            raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
        self.cardinality = cardinality
        self.seed = seed
        self.model = model
        self.chosen: str | None = None
        self.settings: dict[str, Any] = {}
        self.fallback: str | None = None
        self.scores: dict[str, float] = {}
        self.learned_accuracies: np.ndarray | None = None
        self._fitted: Any = None
        self._m: int | None = None

    def fit(self, L, L_dev=None, Y_dev=None) -> LabelModel:
        L = check_label_matrix(L, self.cardinality)
        m = L.shape[1]
        if m == 0:
            raise ValueError(
                "the label matrix has no sources (0 labeling functions): nothing to fit a label model on"
            )
        self._m = m
        self.fallback = None
        self.scores = {}
        fitted = MajorityVote(self.cardinality, seed=self.seed).fit(L)
        if m < MIN_SOURCES_TO_LEARN and self.model not in (None, "majority_vote"):
            self.fallback = f"only {m} source(s): a learned model needs at least 3, so majority vote is used"
        self._fitted = fitted
        self.chosen = fitted.name
        self.settings = {}
        self.learned_accuracies = None
        return self

    def _check(self, L) -> np.ndarray:
        if self._fitted is None:
            raise RuntimeError("call fit() before predicting")
        L = check_label_matrix(L, self.cardinality)
        if L.shape[1] != self._m:
            raise ValueError(f"the model was fitted on {self._m} sources, this label matrix has {L.shape[1]}")
        return L

    def predict_proba(self, L) -> np.ndarray:
        L = self._check(L)
        return self._fitted.predict_proba(L)

    def predict(self, L, tie_policy: str = "abstain") -> np.ndarray:
        if tie_policy not in TIE_POLICIES:
            raise ValueError(f"unknown tie policy {tie_policy!r}; choose one of {', '.join(TIE_POLICIES)}")
        L = self._check(L)
        proba = self.predict_proba(L)
        # A row with no vote is uninformative whatever the model says: its scores are zeroed so the tie
        # policy decides (ABSTAIN under "abstain").
        scores = np.where((L != ABSTAIN).any(axis=1)[:, None], proba, 0.0)
        return predict_from_scores(scores, tie_policy, self._prior(), self.seed)

    def _prior(self) -> np.ndarray:
        return np.asarray(self._fitted.prior, dtype=float)

    def describe(self) -> dict[str, Any]:
        return {
            "chosen": self.chosen,
            "settings": dict(self.settings),
            "fallback": self.fallback,
            "scores": {k: float(v) for k, v in self.scores.items()},
            "learned_accuracies": None
            if self.learned_accuracies is None
            else [float(a) for a in self.learned_accuracies],
            "class_prior": None if self._fitted is None else [float(p) for p in self._prior()],
        }
