"""LabelModel: the label model the platform uses, an automatic choice among the engine's models.

With gold on the dev split it fits every candidate (a model and a few settings) on the training matrix and
keeps the best by dev score; it records what it picked, why, and every candidate's score.

Without gold it uses the documented default, which follows the kind of the sources (sources.py):
- labeling functions (most votes come from one-sided sources, abstain is an outcome): the
  matrix-completion model with a uniform class balance, Snorkel's default and what its users expect;
- crowd annotators (abstain ignored): Dawid–Skene with an estimated class prior, the crowd standard. A
  moment-matching model with a uniform balance collapses there (Snorkel: 70 % on crowd `product`, where
  majority vote gets 89.7 %), because a crowd's class balance is far from uniform and well identified.
With fewer than three sources nothing can be learned: majority vote, and `fallback` says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .dawid_skene import DawidSkene
from .majority import TIE_POLICIES, MajorityVote, predict_from_scores
from .matrix import ABSTAIN, check_label_matrix
from .matrix_completion import MatrixCompletion, vote_moments
from .sources import abstain_is_informative, check_abstain_modes, class_vote_counts, row_has_vote

MODELS = ("majority_vote", "dawid_skene", "matrix_completion")
SELECTION_METRICS = ("accuracy", "f1_macro", "f1")
# settings["abstain"] when the caller gave a mode per source (fit's abstain_modes).
PER_SOURCE = "per_source"

# The learned models need at least this many sources to be identified (three views of the same truth).
MIN_SOURCES_TO_LEARN = 3


def dev_score(pred: np.ndarray, gold: np.ndarray, cardinality: int, metric: str) -> float:
    """Percent, over dev rows with gold; an uninformative prediction (-1) counts as wrong."""
    has = gold != ABSTAIN
    p, g = pred[has], gold[has]
    if len(g) == 0:
        return 0.0
    if metric == "accuracy":
        return 100.0 * float((p == g).mean())
    f1s = []
    for c in range(cardinality) if metric == "f1_macro" else (1,):
        tp = int(((p == c) & (g == c)).sum())
        wrong = int(((p == c) & (g != c)).sum()) + int(((p != c) & (g == c)).sum())
        if metric == "f1" or (g == c).any() or (p == c).any():
            f1s.append(2 * tp / (2 * tp + wrong) if tp else 0.0)
    return 100.0 * float(np.mean(f1s))


def hard_labels(model, L: np.ndarray) -> np.ndarray:
    """Argmax of the probabilities, ties to the class the model's prior favours (how dev is scored)."""
    return predict_from_scores(model.predict_proba(L), "prior", np.asarray(model.prior), 0)


class LabelModel:
    """The automatic choice. `model=` fixes the model instead (a project setting).

    selection_metric: what "best on dev" means: "f1_macro" (default; does not reward ignoring a rare
    class), "accuracy", or "f1" (F1 of class 1, for a binary task with a positive class).
    """

    def __init__(
        self,
        cardinality: int,
        seed: int = 0,
        model: str | None = None,
        selection_metric: str = "f1_macro",
    ):
        if cardinality < 2:
            raise ValueError(f"cardinality must be at least 2, got {cardinality}")
        if model is not None and model not in MODELS:
            raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
        if selection_metric not in SELECTION_METRICS:
            raise ValueError(
                f"unknown selection metric {selection_metric!r}; choose one of {', '.join(SELECTION_METRICS)}"
            )
        self.cardinality = cardinality
        self.seed = seed
        self.model = model
        self.selection_metric = selection_metric
        self.chosen: str | None = None
        self.settings: dict[str, Any] = {}
        self.fallback: str | None = None
        self.reason: str | None = None
        self.scores: dict[str, float] = {}
        self.candidates: list[dict[str, Any]] = []
        self.learned_accuracies: np.ndarray | None = None
        self.uninformative_rows = 0
        self._fitted: Any = None
        self._m: int | None = None
        self._counts = np.zeros((0, cardinality), dtype=np.int64)
        self._abstain_modes: tuple[str, ...] | None = None

    # -- fitting ---------------------------------------------------------------------------------

    def fit(self, L, L_dev=None, Y_dev=None, abstain_modes=None) -> LabelModel:
        """abstain_modes: None (the automatic rule of sources.py), or "outcome" / "ignore" per source.

        Labeling-function columns treat abstain as an outcome, annotator columns ignore it; given, the
        modes are used by every learned candidate as they are (majority vote ignores abstains anyway).
        """
        k = self.cardinality
        L = check_label_matrix(L, k)
        n, m = L.shape
        if m == 0:
            raise ValueError(
                "the label matrix has no sources (0 labeling functions): nothing to fit a label model on"
            )
        self._abstain_modes = None
        if abstain_modes is not None:
            modes = check_abstain_modes(abstain_modes)
            if len(modes) != m:
                raise ValueError(
                    f"abstain_modes has {len(modes)} entries but the label matrix has {m} sources"
                )
            self._abstain_modes = modes
        self._m = m
        self.fallback = None
        self.scores = {}
        self.candidates = []
        self.uninformative_rows = int((~row_has_vote(L)).sum())
        self._counts = class_vote_counts(L, k)
        dev = self._dev(L_dev, Y_dev, m)

        if self.model == "majority_vote":
            self._keep("majority_vote", {}, MajorityVote(k, seed=self.seed).fit(L), "fixed by the project")
        elif m < MIN_SOURCES_TO_LEARN or n == 0:
            why = f"only {m} source(s)" if m < MIN_SOURCES_TO_LEARN else "no samples"
            self.fallback = f"{why}: a learned label model needs at least 3 sources and some samples, so majority vote is used"
            self._keep("majority_vote", {}, MajorityVote(k, seed=self.seed).fit(L), self.fallback)
        elif dev is None:
            name, settings = self._default(L)
            if self.model is not None:
                name = self.model
                settings = self._default_settings(name, L)
            reason = "fixed by the project" if self.model else "the default (no gold labels on dev)"
            self._keep(name, settings, self._build(name, settings, L, None), reason)
        else:
            self._select(L, *dev)
        if dev is not None and not self.scores:
            L_d, Y_d = dev
            self.scores[self.chosen or ""] = dev_score(
                hard_labels(self._fitted, L_d), Y_d, k, self.selection_metric
            )
        return self

    def _dev(self, L_dev, Y_dev, m):
        if L_dev is None or Y_dev is None:
            return None
        L_d = check_label_matrix(L_dev, self.cardinality)
        Y_d = np.asarray(Y_dev, dtype=np.int64).ravel()
        if L_d.shape[0] != Y_d.shape[0]:
            raise ValueError(f"L_dev has {L_d.shape[0]} rows but Y_dev has {Y_d.shape[0]} labels")
        if L_d.shape[1] != m:
            raise ValueError(f"L_dev has {L_d.shape[1]} sources, L has {m}")
        if not (Y_d != ABSTAIN).any():
            return None
        return L_d, Y_d

    def _default(self, L) -> tuple[str, dict[str, Any]]:
        if self._abstain_modes is not None:
            # The project said which sources are which; the crowd default, Dawid-Skene, handles both kinds.
            return "dawid_skene", {"abstain": PER_SOURCE, "class_prior": "estimate", "smoothing": 1.0}
        if abstain_is_informative(self._counts):
            return "matrix_completion", {"abstain": "outcome", "class_balance": "uniform", "l2": 0.1}
        return "dawid_skene", {"abstain": "ignore", "class_prior": "estimate", "smoothing": 1.0}

    def _default_settings(self, name: str, L) -> dict[str, Any]:
        default_name, settings = self._default(L)
        if name == default_name:
            return settings
        abstain = settings["abstain"]
        if name == "dawid_skene":
            return {"abstain": abstain, "class_prior": "estimate", "smoothing": 1.0}
        if name == "matrix_completion":
            return {"abstain": abstain, "class_balance": "uniform", "l2": 0.1}
        return {}

    def _build(self, name: str, settings: dict[str, Any], L, moments, Y_dev=None):
        k = self.cardinality
        if name == "majority_vote":
            return MajorityVote(k, seed=self.seed).fit(L)
        if name == "dawid_skene":
            prior = _balance(settings["class_prior"], k, Y_dev)
            return DawidSkene(
                k,
                abstain=self._abstain(settings),
                smoothing=settings["smoothing"],
                class_prior=prior,
                seed=self.seed,
            ).fit(L)
        balance = _balance(settings["class_balance"], k, Y_dev)
        mc = MatrixCompletion(
            k,
            abstain=self._abstain(settings),
            class_balance="estimate" if settings["class_balance"] == "estimate" else balance,
            l2=settings["l2"],
            seed=self.seed,
        )
        return mc.fit_moments(moments if moments is not None else vote_moments(L, k, counts=self._counts))

    def _abstain(self, settings: dict[str, Any]):
        return self._abstain_modes if settings["abstain"] == PER_SOURCE else settings["abstain"]

    def _candidate_settings(self, L) -> list[tuple[str, dict[str, Any]]]:
        default = self._default(L)
        out = [default]
        names = MODELS if self.model is None else (self.model,)
        if "majority_vote" in names:
            out.append(("majority_vote", {}))
        abstains = ("outcome", "ignore") if self._abstain_modes is None else (PER_SOURCE,)
        if "dawid_skene" in names:
            for abstain in abstains:
                for prior in ("estimate", "uniform", "dev"):
                    out.append(("dawid_skene", {"abstain": abstain, "class_prior": prior, "smoothing": 1.0}))
        if "matrix_completion" in names:
            for abstain in abstains:
                # An estimated balance is left to Dawid-Skene: here it was never the best and the slowest.
                for balance in ("uniform", "dev"):
                    for l2 in (0.01, 0.1, 1.0):
                        out.append(
                            ("matrix_completion", {"abstain": abstain, "class_balance": balance, "l2": l2})
                        )
        seen: list[tuple[str, dict[str, Any]]] = []
        for c in out:
            if c not in seen and (self.model is None or c[0] == self.model):
                seen.append(c)
        return seen

    def _select(self, L, L_dev, Y_dev) -> None:
        k = self.cardinality
        moments = vote_moments(L, k, counts=self._counts)
        best = None
        for name, settings in self._candidate_settings(L):
            fitted = self._build(name, settings, L, moments, Y_dev)
            score = dev_score(hard_labels(fitted, L_dev), Y_dev, k, self.selection_metric)
            self.candidates.append({"model": name, "settings": settings, "dev_score": score})
            self.scores[name] = max(score, self.scores.get(name, -np.inf))
            # Strictly better only: on a tie the earlier candidate (the default first) stays.
            if best is None or score > best[0]:
                best = (score, name, settings, fitted)
        assert best is not None
        score, name, settings, fitted = best
        self._keep(
            name,
            settings,
            fitted,
            f"best {self.selection_metric} on dev ({score:.1f}) of {len(self.candidates)} candidates",
        )

    def _keep(self, name: str, settings: dict[str, Any], fitted, reason: str) -> None:
        self._fitted = fitted
        self.chosen = name
        self.settings = dict(settings)
        self.reason = reason
        acc = getattr(fitted, "learned_accuracies", None)
        self.learned_accuracies = None if acc is None else np.asarray(acc, dtype=float)

    # -- predicting ------------------------------------------------------------------------------

    def _check(self, L) -> np.ndarray:
        if self._fitted is None:
            raise RuntimeError("call fit() before predicting")
        L = check_label_matrix(L, self.cardinality)
        if L.shape[1] != self._m:
            raise ValueError(f"the model was fitted on {self._m} sources, this label matrix has {L.shape[1]}")
        return L

    @property
    def prior(self) -> np.ndarray:
        if self._fitted is None:
            return np.full(self.cardinality, 1.0 / self.cardinality)
        return np.asarray(self._fitted.prior, dtype=float)

    def predict_proba(self, L) -> np.ndarray:
        """n x k, rows summing to 1; rows where every source abstains get the class prior."""
        L = self._check(L)
        return self._fitted.predict_proba(L)

    def predict(self, L, tie_policy: str = "abstain") -> np.ndarray:
        """Hard labels; -1 for uninformative rows (all abstain, or tied) under tie_policy="abstain"."""
        if tie_policy not in TIE_POLICIES:
            raise ValueError(f"unknown tie policy {tie_policy!r}; choose one of {', '.join(TIE_POLICIES)}")
        L = self._check(L)
        proba = self.predict_proba(L)
        # A row with no vote is uninformative whatever the model says: its scores are zeroed so the tie
        # policy decides (ABSTAIN under "abstain").
        scores = np.where(row_has_vote(L)[:, None], proba, 0.0)
        return predict_from_scores(scores, tie_policy, self.prior, self.seed)

    def describe(self) -> dict[str, Any]:
        """Everything a run records, JSON-serialisable (NaN accuracies of silent sources become None)."""
        acc = None
        if self.learned_accuracies is not None:
            acc = [None if not np.isfinite(a) else float(a) for a in self.learned_accuracies]
        return {
            "chosen": self.chosen,
            "settings": dict(self.settings),
            "reason": self.reason,
            "fallback": self.fallback,
            "selection_metric": self.selection_metric,
            "scores": {k: float(v) for k, v in self.scores.items()},
            "candidates": [dict(c, dev_score=float(c["dev_score"])) for c in self.candidates],
            "learned_accuracies": acc,
            "class_prior": [float(p) for p in self.prior],
            "uninformative_rows": self.uninformative_rows,
            # Per source, how the chosen model read its abstains (None for majority vote, which ignores them).
            "abstain_modes": getattr(self._fitted, "abstain_modes", None),
            "abstain_modes_given": None if self._abstain_modes is None else list(self._abstain_modes),
        }


def _balance(setting, k: int, Y_dev) -> np.ndarray | None:
    """None for estimate; the uniform balance; or the dev class shares (smoothed so none is zero)."""
    if setting == "estimate":
        return None
    if setting == "dev" and Y_dev is not None:
        gold = np.asarray(Y_dev)
        counts = np.bincount(gold[gold != ABSTAIN], minlength=k)[:k].astype(float)
        return (counts + 1.0) / (counts.sum() + k)
    return np.full(k, 1.0 / k)
