"""Scores of hard predictions against gold labels on one split (METRICS.md, "The label model on a split").

Coverage goes beside accuracy: rows the model could not label (prediction -1, uninformative) are left out
of the "covered" figures and counted as wrong in the "overall" ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .matrix import ABSTAIN


@dataclass(frozen=True)
class ClassScores:
    precision: float | None
    recall: float | None
    f1: float | None
    support: int


@dataclass(frozen=True)
class SplitScores:
    n_gold: int
    n_covered: int
    coverage: float | None
    accuracy: float | None
    accuracy_covered: float | None
    f1_macro: float | None
    f1_macro_covered: float | None
    per_class: tuple[ClassScores, ...]
    # k x k, gold by row, over covered rows; `abstained[c]` counts gold-c rows left uninformative.
    confusion: tuple[tuple[int, ...], ...]
    abstained: tuple[int, ...]


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _f1(p: float | None, r: float | None) -> float | None:
    if p is None or r is None:
        return None
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def _per_class(confusion: np.ndarray, abstained: np.ndarray) -> tuple[ClassScores, ...]:
    out = []
    for c in range(confusion.shape[0]):
        tp = confusion[c, c]
        predicted = confusion[:, c].sum()
        actual = confusion[c, :].sum() + abstained[c]
        p = _ratio(tp, predicted)
        r = _ratio(tp, actual)
        # A class nobody predicted and nobody has: it does not enter the macro average.
        out.append(
            ClassScores(precision=p, recall=r, f1=_f1(p if p is not None else 0.0, r), support=int(actual))
        )
    return tuple(out)


def _macro(scores: tuple[ClassScores, ...]) -> float | None:
    f1s = [s.f1 for s in scores if s.support > 0 and s.f1 is not None]
    return float(np.mean(f1s)) if f1s else None


def score_split(pred, gold, cardinality: int) -> SplitScores:
    """pred: hard labels with -1 for uninformative; gold: labels with -1 where a row has no gold."""
    pred = np.asarray(pred, dtype=np.int64)
    gold = np.asarray(gold, dtype=np.int64)
    if pred.shape != gold.shape:
        raise ValueError(f"predictions {pred.shape} and gold {gold.shape} differ in shape")
    has_gold = gold != ABSTAIN
    p, g = pred[has_gold], gold[has_gold]
    covered = p != ABSTAIN
    confusion = np.zeros((cardinality, cardinality), dtype=np.int64)
    np.add.at(confusion, (g[covered], p[covered]), 1)
    abstained = np.bincount(g[~covered], minlength=cardinality)[:cardinality]
    n_gold, n_cov = int(has_gold.sum()), int(covered.sum())
    correct = int(np.trace(confusion))
    per_class = _per_class(confusion, abstained)
    covered_only = _per_class(confusion, np.zeros_like(abstained))
    return SplitScores(
        n_gold=n_gold,
        n_covered=n_cov,
        coverage=_ratio(n_cov, n_gold),
        accuracy=_ratio(correct, n_gold),
        accuracy_covered=_ratio(correct, n_cov),
        f1_macro=_macro(per_class),
        f1_macro_covered=_macro(covered_only),
        per_class=per_class,
        confusion=tuple(tuple(int(v) for v in row) for row in confusion),
        abstained=tuple(int(v) for v in abstained),
    )
