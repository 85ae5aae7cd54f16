"""Annotators as sources on real crowd data: the label model against per-item majority vote.

Each worker of shared/datasets/crowd_truth_inference is one column of the label matrix; the label model
(LabelModel's automatic choice, no gold given) is fitted on all items and scored on all items with
ground truth. Run: `.venv/bin/python -m bench.crowd`.
"""

from __future__ import annotations

import numpy as np

from bench import datasets
from labeling.engine import LabelModel, MajorityVote, vote_counts

# The four classification sets (emotion is a regression set: numeric answers, no classes).
CROWD_SETS = (
    ("bluebirds_duck", "bluebirds"),
    ("dog", "dog"),
    ("face_sentiment", "face_sentiment"),
    ("product", "product"),
)


def accuracy(pred: np.ndarray, gold: np.ndarray) -> float:
    """Share of items with gold whose prediction equals it; a -1 prediction (a tie left open) is wrong."""
    has = gold != -1
    return float((pred[has] == gold[has]).mean())


def expected_mv_accuracy(L: np.ndarray, gold: np.ndarray, k: int) -> float:
    """Majority vote's accuracy averaged over every way of breaking its ties uniformly at random."""
    counts = vote_counts(L, k)
    top = counts == counts.max(axis=1, keepdims=True)
    has = gold != -1
    hit = top[has, gold[has]] / top[has].sum(axis=1)
    return float(hit.mean())


def compare(folder: str, name: str, seed: int = 0) -> dict:
    t = datasets.crowd(datasets.datasets_dir(), folder, name)
    L, Y, k = t.L_train, t.Y_eval, t.cardinality
    mv = MajorityVote(k, seed=seed).fit(L)
    model = LabelModel(k, seed=seed).fit(L)
    random_ties = [accuracy(MajorityVote(k, seed=s).fit(L).predict(L, "random"), Y) for s in range(100)]
    return {
        "dataset": name,
        "items": int((Y != -1).sum()),
        "workers": L.shape[1],
        "answers": int((L != -1).sum()),
        "mv_ties": int((mv.predict(L, "abstain") == -1).sum()),
        "mv_random": accuracy(mv.predict(L, "random"), Y),
        "mv_random_range": (min(random_ties), max(random_ties)),
        "mv_expected": expected_mv_accuracy(L, Y, k),
        "mv_ties_wrong": accuracy(mv.predict(L, "abstain"), Y),
        "model": accuracy(model.predict(L, "abstain"), Y),
        "chosen": f"{model.chosen} {model.settings}",
    }


def main() -> None:
    print(
        "| dataset | items | workers | answers | MV ties | MV (seeded random ties) | MV range, 100 seeds"
        " | MV (expected) | MV (ties wrong) | label model | model |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for folder, name in CROWD_SETS:
        r = compare(folder, name)
        lo, hi = r["mv_random_range"]
        print(
            f"| {r['dataset']} | {r['items']} | {r['workers']} | {r['answers']} | {r['mv_ties']}"
            f" | {100 * r['mv_random']:.2f} | {100 * lo:.2f}-{100 * hi:.2f} | {100 * r['mv_expected']:.2f}"
            f" | {100 * r['mv_ties_wrong']:.2f}"
            f" | {100 * r['model']:.2f} | {r['chosen']} |"
        )


if __name__ == "__main__":
    main()
