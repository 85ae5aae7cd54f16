"""LabelModel: the label model the platform uses, an automatic choice among the engine's models.

With gold on the dev split it fits every candidate (a model and a few settings) on the training matrix and
keeps the best by dev score; it records what it picked, why, and every candidate's score. Candidates
within TIE_POINTS of the best dev score are a tie, won by the best dev Brier score, so of two models that
label alike the one whose probabilities mean something is kept. On a matrix of labeling functions an
"ignore abstain" candidate still treats a one-sided LF's abstain as an outcome: ignored, it would leave the
LF exactly uninformative and the model's probabilities flat (all within 0.49-0.51 on a real project).

With dev gold the candidates also include matrix-completion fits that use the dev labels themselves, not
only to choose (MatrixCompletion's `labeled=`): the moments cannot tell correlated LFs that agree on the
same mistakes from accurate ones, and a few hundred gold rows can. Such a candidate is scored out of fold
(DEV_FOLDS), then refitted on all the dev labels if it wins. Dawid-Skene candidates for a crowd also come
with and without pooling the annotators (DawidSkene's `pool`).

Fitting is on distinct rows with their counts (sparse LFs repeat a few vote patterns), and past FIT_ROWS
(SELECT_ROWS when choosing among candidates) on a seeded sample of rows, so a refit with dev labels stays
about a second at a million samples; only predict_proba sees every row, once per distinct row.

`fit(..., abstain_modes=)` gives "outcome" or "ignore" per source (a project mixing LFs and annotators);
without it the automatic rule of sources.py applies to all sources alike.

Without gold it uses the documented default, which follows the kind of the sources (sources.py):
- labeling functions (most votes come from one-sided sources, abstain is an outcome): the
  matrix-completion model with a uniform class balance, Snorkel's default and what its users expect, for
  a binary task started from the median over triplets of LFs (MatrixCompletion's `init`), which LFs
  that depend on each other bend less than the moment fit alone;
- crowd annotators (abstain ignored): Dawid–Skene with an estimated class prior, the crowd standard, each
  annotator's confusion matrix shrunk towards the crowd's (POOL). A moment-matching model with a uniform balance collapses there (Snorkel: 70 % on crowd `product`, where
  majority vote gets 89.7 %), because a crowd's class balance is far from uniform and well identified.
With fewer than three sources nothing can be learned: majority vote, and `fallback` says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .dawid_skene import DawidSkene
from .majority import TIE_POLICIES, MajorityVote, predict_from_scores
from .matrix import ABSTAIN, check_label_matrix
from .matrix_completion import MatrixCompletion, labeled_counts, vote_moments
from .sources import (
    abstain_is_informative,
    check_abstain_modes,
    class_vote_counts,
    ignore_two_sided,
    row_has_vote,
    unique_rows,
)

MODELS = ("majority_vote", "dawid_skene", "matrix_completion")
SELECTION_METRICS = ("accuracy", "f1_macro", "f1")
# Rows a model is fitted on at most (a seeded sample past it; see LabelModel._fit_rows): the default
# fit, and each candidate when dev labels make it choose among many.
FIT_ROWS = 1 << 17
SELECT_ROWS = 1 << 15
# Dev rows the candidates are scored on at most.
DEV_ROWS = 1 << 15
# Dev scores (percent) this close to the best count as a tie, broken by the Brier score.
TIE_POINTS = 0.5
# Candidates that fit on the dev labels too (matrix completion's label_weight) are scored out of fold:
# each fold's dev rows are predicted by a fit on the other folds' labels, so a candidate that saw the dev
# labels does not win on them for having seen them.
DEV_FOLDS = 3
LABEL_WEIGHTS = (10.0,)
# settings["abstain"] when the caller gave a mode per source (fit's abstain_modes).
PER_SOURCE = "per_source"
# Dawid-Skene's pool for annotators: each of an annotator's class rows gets 2k pseudo-votes spread as the
# crowd's pooled confusion (1 to 3 all did better than none on the four crowd sets of bench/label_model.py).
POOL = 2.0

# Identical columns with at least this many votes are one source voting twice (see distinct_columns).
COPY_MIN_VOTES = 10

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


def dev_brier(proba: np.ndarray, gold: np.ndarray) -> float:
    """Mean Brier score over dev rows with gold: sum over classes of (p - [y = c])^2, 0 best, 2 worst."""
    has = gold != ABSTAIN
    if not has.any():
        return 0.0
    p = proba[has]
    onehot = np.zeros_like(p)
    onehot[np.arange(len(p)), gold[has]] = 1.0
    return float(((p - onehot) ** 2).sum(axis=1).mean())


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
        self._columns: list[int] = []
        self.duplicate_of: list[int | None] = []
        self._counts = np.zeros((0, cardinality), dtype=np.int64)
        self._abstain_modes: tuple[str, ...] | None = None
        # As the caller gave them, one per source of its matrix (_abstain_modes: per fitted column).
        self._modes_given: tuple[str, ...] | None = None
        self._weights = np.zeros(0, dtype=np.int64)
        self.dev_rows_scored = 0
        # Set by fit when some class has no votes: the model fitted on the voted ones (see _fit_voted).
        self._inner: LabelModel | None = None
        self._voted = np.arange(cardinality)
        self._renumber = np.arange(cardinality)
        self.unvoted_classes: list[int] = []

    # -- fitting ---------------------------------------------------------------------------------

    def fit(self, L, L_dev=None, Y_dev=None, abstain_modes=None) -> LabelModel:
        """abstain_modes: None (the automatic rule of sources.py), or "outcome" / "ignore" per source.

        Labeling-function columns treat abstain as an outcome, annotator columns ignore it; given, the
        modes are used by every learned candidate as they are (majority vote ignores abstains anyway).

        A class no source votes (in L or L_dev) is left out of the fit: the models are fitted on the voted
        classes and the class gets probability 0 (see _fit_voted).
        """
        k = self.cardinality
        L = check_label_matrix(L, k)
        self._inner = None
        self.unvoted_classes = []
        voted = self._voted_classes(L, L_dev)
        if voted is not None:
            return self._fit_voted(voted, L, L_dev, Y_dev, abstain_modes)
        return self._fit(L, L_dev, Y_dev, abstain_modes)

    def _voted_classes(self, L, L_dev) -> np.ndarray | None:
        """The classes some source votes, when that is at least two but not all of them; else None."""
        k = self.cardinality
        if L.size == 0:
            return None
        matrices = [L] if L_dev is None else [L, check_label_matrix(L_dev, k)]
        # Every class is voted in nearly every project: a strided sample of rows usually shows them all, and
        # only a class it misses costs a pass over the whole matrix (counting every vote took 0.1-0.2 s at
        # 1M x 50, a third of the default fit).
        voted = np.zeros(k, dtype=bool)
        for M in matrices:
            sample = M[:: max(1, M.shape[0] // 16384)]
            voted |= np.bincount(sample[sample >= 0].ravel(), minlength=k)[:k] > 0
        for c in np.flatnonzero(~voted):
            voted[c] = any(bool((M == c).any()) for M in matrices)
        if voted.all() or voted.sum() < 2:
            return None
        classes = np.flatnonzero(voted)
        if self.selection_metric == "f1" and not (len(classes) > 1 and classes[1] == 1):
            return None  # "F1 of class 1" would name another class after renumbering
        return classes

    def _fit_voted(self, voted, L, L_dev, Y_dev, abstain_modes) -> LabelModel:
        """Fit on the voted classes only, renumbered 0..len(voted)-1, and keep that model inside.

        With a class nobody votes yet (a project adds OFFTOPIC before writing its LFs), every model would
        have to learn how each source behaves on rows of a class it never names, from nothing: on
        wrench_youtube an unused third class took the default from 84.0 % to 45.2 %. Its dev gold rows are
        left out of the choice (no candidate can label them). At predict time a vote for such a class (a
        source voting it only outside the fitted rows) counts as an abstain: the model learned nothing of it.
        """
        k = self.cardinality
        self._voted = voted
        self._renumber = np.full(k, ABSTAIN, dtype=np.int64)
        self._renumber[voted] = np.arange(len(voted))
        self.unvoted_classes = [int(c) for c in np.setdiff1d(np.arange(k), voted)]
        inner = LabelModel(
            len(voted), seed=self.seed, model=self.model, selection_metric=self.selection_metric
        )
        Y_inner = None
        if Y_dev is not None:
            Y = np.asarray(Y_dev, dtype=np.int64).ravel()
            Y_inner = np.where(Y >= 0, self._renumber[np.clip(Y, 0, k - 1)], ABSTAIN)
        L_inner = None if L_dev is None else self._renumbered(check_label_matrix(L_dev, k))
        inner.fit(self._renumbered(L), L_dev=L_inner, Y_dev=Y_inner, abstain_modes=abstain_modes)
        self._inner = inner
        for name in (
            "chosen", "settings", "fallback", "scores", "candidates", "learned_accuracies",
            "uninformative_rows", "duplicate_of", "dev_rows_scored", "_m", "_modes_given", "_fitted",
        ):  # fmt: skip
            setattr(self, name, getattr(inner, name))
        self.reason = (
            f"{inner.reason}; fitted on the {len(voted)} classes some source votes (the other "
            f"{k - len(voted)} get probability 0 until one does)"
        )
        return self

    def _renumbered(self, L: np.ndarray) -> np.ndarray:
        """Votes in the inner model's numbering; a vote for an unvoted class becomes an abstain."""
        table = self._renumber.astype(L.dtype)
        return np.where(L >= 0, table[np.clip(L, 0, self.cardinality - 1)], ABSTAIN).astype(L.dtype)

    def _widened(self, proba: np.ndarray) -> np.ndarray:
        out = np.zeros((proba.shape[0], self.cardinality))
        out[:, self._voted] = proba
        return out

    def _fit(self, L, L_dev, Y_dev, abstain_modes) -> LabelModel:
        k = self.cardinality
        n, m = L.shape
        if m == 0:
            raise ValueError(
                "the label matrix has no sources (0 labeling functions): nothing to fit a label model on"
            )
        modes = None
        if abstain_modes is not None:
            modes = check_abstain_modes(abstain_modes)
            if len(modes) != m:
                raise ValueError(
                    f"abstain_modes has {len(modes)} entries but the label matrix has {m} sources"
                )
        self._m = m
        self._modes_given = modes
        dev = self._dev(L_dev, Y_dev, m)
        # A source that votes exactly as another on every sample (an LF saved twice, a code LF that is a
        # regex rewritten) adds no evidence, but every learned model would take the pair's agreement for
        # accuracy: on wrench_youtube one duplicated LF took the default from 83.2 % to 49.6 %. The models
        # see each distinct column once; the copies share its learned accuracy.
        self._columns, self.duplicate_of = distinct_columns(L)
        if len(self._columns) < m:
            L = L[:, self._columns]
            if dev is not None:
                dev = (dev[0][:, self._columns], dev[1])
            if modes is not None:
                modes = tuple(modes[j] for j in self._columns)
            n, m = L.shape
        self._abstain_modes = modes
        self.fallback = None
        self.scores = {}
        self.candidates = []
        self.dev_rows_scored = 0
        self.uninformative_rows = int((~row_has_vote(L)).sum())
        # Choosing among many candidates fits each on fewer rows than the one default fit does.
        U, self._weights = self._fit_rows(L, FIT_ROWS if dev is None else SELECT_ROWS)
        # Vote counts of the fitted rows: the automatic abstain rule only reads their shares.
        self._counts = class_vote_counts(U, k, weights=self._weights)

        if self.model == "majority_vote":
            self._keep("majority_vote", {}, self._build("majority_vote", {}, U, None), "fixed by the project")
        elif m < MIN_SOURCES_TO_LEARN or n == 0:
            distinct = "distinct " if len(self._columns) < self._m else ""
            why = f"only {m} {distinct}source(s)" if m < MIN_SOURCES_TO_LEARN else "no samples"
            self.fallback = f"{why}: a learned label model needs at least 3 sources and some samples, so majority vote is used"
            self._keep("majority_vote", {}, self._build("majority_vote", {}, U, None), self.fallback)
        elif dev is None:
            name, settings = self._default(L)
            if self.model is not None:
                name = self.model
                settings = self._default_settings(name, L)
            reason = "fixed by the project" if self.model else "the default (no gold labels on dev)"
            self._keep(name, settings, self._build(name, settings, U, None), reason)
        else:
            self._select(U, *dev)
        if dev is not None and not self.scores:
            L_d, Y_d = dev
            self.scores[self.chosen or ""] = dev_score(
                hard_labels(self._fitted, L_d), Y_d, k, self.selection_metric
            )
        return self

    def _fit_rows(self, L, limit: int) -> tuple[np.ndarray, np.ndarray]:
        """The rows the models are fitted on, as distinct rows and how many samples each stands for.

        Past `limit` a seeded sample: each source's accuracy is then known to about 0.01, more rows no
        longer move the estimates, and a refit after an LF edit stays about a second at a million
        samples. Only the prediction pass sees every row.
        """
        n = L.shape[0]
        if n > limit:
            rows = np.sort(np.random.default_rng(self.seed).choice(n, limit, replace=False))
            L = L[rows]
        U, weights, _ = unique_rows(L, self.cardinality)
        return U, weights

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
            return "dawid_skene", {
                "abstain": PER_SOURCE,
                "class_prior": "estimate",
                "smoothing": 1.0,
                "pool": POOL,
            }
        if abstain_is_informative(self._counts):
            return "matrix_completion", {"abstain": "outcome", "class_balance": "uniform", "l2": 0.1}
        return "dawid_skene", {"abstain": "ignore", "class_prior": "estimate", "smoothing": 1.0, "pool": POOL}

    def _default_settings(self, name: str, L) -> dict[str, Any]:
        default_name, settings = self._default(L)
        if name == default_name:
            return settings
        abstain = settings["abstain"]
        if name == "dawid_skene":
            return {
                "abstain": abstain,
                "class_prior": "estimate",
                "smoothing": 1.0,
                "pool": self._pool(abstain),
            }
        if name == "matrix_completion":
            return {"abstain": abstain, "class_balance": "uniform", "l2": 0.1}
        return {}

    def _build(self, name: str, settings: dict[str, Any], U, moments, Y_dev=None, labeled=None):
        """Fit one candidate on the distinct rows U (weights in self._weights); `labeled` is the
        labeled_counts of the dev rows a candidate with a label_weight fits on."""
        k = self.cardinality
        w = self._weights
        if name == "majority_vote":
            return MajorityVote(k, seed=self.seed).fit(U, weights=w)
        if name == "dawid_skene":
            prior = _balance(settings["class_prior"], k, Y_dev)
            return DawidSkene(
                k,
                abstain=self._abstain(settings),
                smoothing=settings["smoothing"],
                pool=settings.get("pool", 0.0),
                class_prior=prior,
                seed=self.seed,
            ).fit(U, counts=self._counts, weights=w)
        balance = _balance(settings["class_balance"], k, Y_dev)
        mc = MatrixCompletion(
            k,
            abstain=self._abstain(settings),
            class_balance="estimate" if settings["class_balance"] == "estimate" else balance,
            l2=settings["l2"],
            seed=self.seed,
        )
        weight = settings.get("label_weight", 0.0)
        return mc.fit_moments(
            moments if moments is not None else vote_moments(U, k, weights=w),
            labeled=labeled if weight else None,
            label_weight=weight,
        )

    def _pool(self, abstain: str) -> float:
        """Annotators are pooled (see DawidSkene's `pool`) where the matrix has them: a crowd's ignoring
        candidates and per-source modes; labeling functions are not alike and are never pooled."""
        if abstain == PER_SOURCE or (abstain == "ignore" and not abstain_is_informative(self._counts)):
            return POOL
        return 0.0

    def _abstain(self, settings: dict[str, Any]):
        if settings["abstain"] == PER_SOURCE:
            return self._abstain_modes
        if settings["abstain"] == "ignore" and abstain_is_informative(self._counts):
            # A matrix of labeling functions: a one-sided LF's only information is its abstain, so an
            # "ignore" candidate ignores only the two-sided sources' abstains (else it is flat). In a crowd
            # an annotator's abstain is chance even when they voted one class, and stays ignored.
            return ignore_two_sided(self._counts)
        return settings["abstain"]

    def _candidate_settings(self, L) -> list[tuple[str, dict[str, Any]]]:
        default = self._default(L)
        out = [default]
        names = MODELS if self.model is None else (self.model,)
        if "majority_vote" in names:
            out.append(("majority_vote", {}))
        abstains = ("outcome", "ignore") if self._abstain_modes is None else (PER_SOURCE,)
        if "dawid_skene" in names:
            for abstain in abstains:
                pools = sorted({0.0, self._pool(abstain)})
                for prior in ("estimate", "uniform", "dev"):
                    for pool in pools:
                        out.append(
                            (
                                "dawid_skene",
                                {"abstain": abstain, "class_prior": prior, "smoothing": 1.0, "pool": pool},
                            )
                        )
        if "matrix_completion" in names:
            for abstain in abstains:
                # An estimated balance is left to Dawid-Skene: here it was never the best and the slowest.
                for balance in ("uniform", "dev"):
                    for l2 in (0.1, 1.0):
                        out.append(
                            ("matrix_completion", {"abstain": abstain, "class_balance": balance, "l2": l2})
                        )
            # Fitted on the dev labels as well as the moments (scored out of fold, see DEV_FOLDS), for
            # labeling functions read as the default reads them. Not for a crowd: its default, Dawid-Skene,
            # already does well there, and a moment fit over a hundred annotators' pairs costs seconds.
            semi = self._abstain_modes is not None or abstain_is_informative(self._counts)
            # With a uniform balance and a weight of 10 only: a dev balance or a weight of 3 never did better
            # on the bench's sets, and each such candidate costs DEV_FOLDS + 1 fits in every refit.
            for abstain in (default[1]["abstain"],) if semi else ():
                for weight in LABEL_WEIGHTS:
                    settings = {
                        "abstain": abstain,
                        "class_balance": "uniform",
                        "l2": 0.1,
                        "label_weight": weight,
                    }
                    out.append(("matrix_completion", settings))
        seen: list[tuple[str, dict[str, Any]]] = []
        for c in out:
            if c not in seen and (self.model is None or c[0] == self.model):
                seen.append(c)
        return seen

    def _select(self, U, L_dev, Y_dev) -> None:
        k = self.cardinality
        moments = vote_moments(U, k, weights=self._weights)
        if len(Y_dev) > DEV_ROWS:
            # A seeded sample of the dev rows scores the candidates: at DEV_ROWS the standard error of a
            # dev accuracy is under 0.3 points, below TIE_POINTS.
            rows = np.sort(np.random.default_rng(self.seed).choice(len(Y_dev), DEV_ROWS, replace=False))
            L_dev, Y_dev = L_dev[rows], Y_dev[rows]
        self.dev_rows_scored = int((Y_dev != ABSTAIN).sum())
        # Dev rows repeat too: each candidate predicts once per distinct dev row.
        U_dev, _, dev_inverse = unique_rows(L_dev, k)
        labeled = labeled_counts(L_dev, Y_dev, k)
        folds = self._dev_folds(Y_dev)
        fits = []
        for name, settings in self._candidate_settings(U):
            fitted = self._build(name, settings, U, moments, Y_dev, labeled)
            proba = fitted.predict_proba(U_dev)[dev_inverse]
            if settings.get("label_weight"):
                proba = self._out_of_fold(name, settings, U, moments, L_dev, Y_dev, folds, proba)
            pred = predict_from_scores(proba, "prior", np.asarray(fitted.prior), 0)
            score = dev_score(pred, Y_dev, k, self.selection_metric)
            brier = dev_brier(proba, Y_dev)
            self.candidates.append(
                {"model": name, "settings": settings, "dev_score": score, "dev_brier": brier}
            )
            self.scores[name] = max(score, self.scores.get(name, -np.inf))
            fits.append((score, brier, name, settings, fitted))
        # The hard metric decides; among the candidates within TIE_POINTS of the best, the one whose
        # probabilities are best on dev (Brier, a proper scoring rule) wins, so of two models that label
        # alike the one with useful soft labels is kept. Equal on both: the earlier (the default first).
        top = max(f[0] for f in fits)
        near = [f for f in fits if f[0] >= top - TIE_POINTS]
        score, brier, name, settings, fitted = min(near, key=lambda f: f[1])
        reason = (
            f"best {self.selection_metric} on dev ({score:.1f} %, every dev row labeled: ties and rows "
            f"without votes go to the class the prior favours; Brier {brier:.3f}) of "
            f"{len(self.candidates)} candidates"
        )
        if settings.get("label_weight"):
            reason += (
                "; it was scored out of fold and then fitted on the dev labels too, so this run's dev "
                "figures are not a fair estimate of its quality (the test split's are)"
            )
        self._keep(name, settings, fitted, reason)

    def _dev_folds(self, Y_dev) -> list[np.ndarray]:
        """DEV_FOLDS seeded folds of the dev rows with gold."""
        rows = np.flatnonzero(Y_dev != ABSTAIN)
        rows = rows[np.random.default_rng(self.seed).permutation(len(rows))]
        return [np.sort(f) for f in np.array_split(rows, DEV_FOLDS) if len(f)]

    def _out_of_fold(self, name, settings, U, moments, L_dev, Y_dev, folds, proba) -> np.ndarray:
        """Dev probabilities where each fold's rows come from a fit on the other folds' labels (and, for a
        dev class balance, their classes): what the candidate would give rows whose gold it never saw."""
        k = self.cardinality
        out = proba.copy()
        for fold in folds:
            Y_rest = Y_dev.copy()
            Y_rest[fold] = ABSTAIN
            fitted = self._build(name, settings, U, moments, Y_rest, labeled_counts(L_dev, Y_rest, k))
            out[fold] = fitted.predict_proba(L_dev[fold])
        return out

    def _keep(self, name: str, settings: dict[str, Any], fitted, reason: str) -> None:
        self._fitted = fitted
        self.chosen = name
        self.settings = dict(settings)
        self.reason = reason
        acc = getattr(fitted, "learned_accuracies", None)
        # Per source of the caller's matrix: a copy has the accuracy of the column it copies.
        self.learned_accuracies = None if acc is None else np.asarray(acc, dtype=float)[self._source_column()]

    def _source_column(self) -> np.ndarray:
        """For each of the caller's sources, its column in the fitted (distinct-column) matrix."""
        position = {c: i for i, c in enumerate(self._columns)}
        return np.array(
            [position[j if d is None else d] for j, d in enumerate(self.duplicate_of)], dtype=np.int64
        )

    # -- predicting ------------------------------------------------------------------------------

    def _check(self, L) -> np.ndarray:
        if self._fitted is None:
            raise RuntimeError("call fit() before predicting")
        L = check_label_matrix(L, self.cardinality)
        if L.shape[1] != self._m:
            raise ValueError(f"the model was fitted on {self._m} sources, this label matrix has {L.shape[1]}")
        if len(self._columns) < self._m:
            # A copy's votes were counted once in the fit, through the column it copies.
            L = L[:, self._columns]
        return L

    @property
    def prior(self) -> np.ndarray:
        if self._fitted is None:
            return np.full(self.cardinality, 1.0 / self.cardinality)
        if self._inner is not None:
            return self._widened(self._inner.prior[None, :])[0]
        return np.asarray(self._fitted.prior, dtype=float)

    def predict_proba(self, L) -> np.ndarray:
        """n x k, rows summing to 1; rows where every source abstains get the class prior.

        Once per distinct row, scattered back (the same numbers, far fewer for sparse LFs)."""
        if self._inner is not None:
            return self._widened(self._inner.predict_proba(self._renumbered(self._checked_shape(L))))
        return self._proba(self._check(L))

    def _checked_shape(self, L) -> np.ndarray:
        if self._fitted is None:
            raise RuntimeError("call fit() before predicting")
        return check_label_matrix(L, self.cardinality)

    def _proba(self, L) -> np.ndarray:
        """predict_proba of a checked matrix (its copies already left out)."""
        U, _, inverse = unique_rows(L, self.cardinality)
        if U.shape[0] == L.shape[0]:
            return self._fitted.predict_proba(L)
        return self._fitted.predict_proba(U)[inverse]

    def predict(self, L, tie_policy: str = "abstain") -> np.ndarray:
        """Hard labels; -1 for uninformative rows (all abstain, or tied) under tie_policy="abstain"."""
        if tie_policy not in TIE_POLICIES:
            raise ValueError(f"unknown tie policy {tie_policy!r}; choose one of {', '.join(TIE_POLICIES)}")
        if self._inner is not None:
            inner = self._inner.predict(self._renumbered(self._checked_shape(L)), tie_policy=tie_policy)
            return np.where(inner >= 0, self._voted[np.maximum(inner, 0)], ABSTAIN)
        L = self._check(L)
        proba = self._proba(L)
        # A row with no vote is uninformative whatever the model says: its scores are zeroed so the tie
        # policy decides (ABSTAIN under "abstain").
        scores = np.where(row_has_vote(L)[:, None], proba, 0.0)
        return predict_from_scores(scores, tie_policy, self.prior, self.seed)

    def _per_source(self, values):
        """A per-column list of the fitted matrix, spread back over the caller's sources."""
        if values is None:
            return None
        return [values[i] for i in self._source_column()]

    def dependent_pairs(self) -> list[list[int]]:
        """The chosen model's dependent pairs, as indices of the caller's sources."""
        if self._inner is not None:
            return self._inner.dependent_pairs()
        pairs = getattr(self._fitted, "dependent_pairs", None) or []
        return [sorted((self._columns[i], self._columns[j])) for i, j in pairs]

    def describe(self) -> dict[str, Any]:
        """Everything a run records, JSON-serialisable (NaN accuracies of silent sources become None)."""
        if self._inner is not None:
            out = self._inner.describe()
            out["reason"] = self.reason
            out["class_prior"] = [float(p) for p in self.prior]
            out["unvoted_classes"] = list(self.unvoted_classes)
            return out
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
            "candidates": [
                dict(c, dev_score=float(c["dev_score"]), dev_brier=float(c["dev_brier"]))
                for c in self.candidates
            ],
            "learned_accuracies": acc,
            "class_prior": [float(p) for p in self.prior],
            "uninformative_rows": self.uninformative_rows,
            "dev_rows_scored": self.dev_rows_scored,
            # Per source, how the chosen model read its abstains (None for majority vote, which ignores them).
            "abstain_modes": self._per_source(getattr(self._fitted, "abstain_modes", None)),
            # Per source: None, or the source it votes exactly like (counted once, through that one).
            "duplicate_of": list(self.duplicate_of),
            # Pairs of sources [i, j] (i < j) voting together far beyond what the class explains, whose
            # agreement the chosen model did not read as accuracy (MatrixCompletion.dependent_pairs).
            "dependent_pairs": self.dependent_pairs(),
            "abstain_modes_given": None if self._modes_given is None else list(self._modes_given),
            # Classes no source voted, left out of the fit with probability 0 (see fit).
            "unvoted_classes": list(self.unvoted_classes),
        }


def distinct_columns(L: np.ndarray) -> tuple[list[int], list[int | None]]:
    """The columns to fit on (the first of each set of identical columns) and, per column, None or the
    earlier column it is identical to. Columns are keyed by a strided sample of their values (a hash of
    whole columns cost 0.37 s at 1M x 22, counting every column's votes first 0.09 s at 1M x 50), and only
    columns whose keys match are counted and compared in full.

    A column with fewer than COPY_MIN_VOTES votes is never a copy: two keyword LFs that each fired on the
    same two messages are a coincidence more than a copy (and can vote apart where the model predicts),
    and so little agreement barely moves a model; a silent column may vote where the model predicts, and
    then counts with the prior accuracy its model gives a source it has not seen vote."""
    n, m = L.shape
    stride = max(1, n // 4096)
    sample = np.ascontiguousarray(L[::stride].T)
    first: dict[bytes, list[int]] = {}
    keep: list[int] = []
    duplicate_of: list[int | None] = []
    for j in range(m):
        key = sample[j].tobytes()
        same = None
        earlier = first.get(key)
        if earlier and np.count_nonzero(L[:, j] != ABSTAIN) >= COPY_MIN_VOTES:
            same = next((i for i in earlier if np.array_equal(L[:, i], L[:, j])), None)
        duplicate_of.append(same)
        if same is None:
            keep.append(j)
            first.setdefault(key, []).append(j)
    return keep, duplicate_of


def _balance(setting, k: int, Y_dev) -> np.ndarray | None:
    """None for estimate; the uniform balance; or the dev class shares (smoothed so none is zero)."""
    if setting == "estimate":
        return None
    if setting == "dev" and Y_dev is not None:
        gold = np.asarray(Y_dev)
        counts = np.bincount(gold[gold != ABSTAIN], minlength=k)[:k].astype(float)
        return (counts + 1.0) / (counts.sum() + k)
    return np.full(k, 1.0 / k)
