"""Loaders for the label-model benchmark: each real dataset as train / dev / test label matrices and gold.

Formats are described in each dataset's SOURCE.md under shared/datasets (a sibling of the repository).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def datasets_dir() -> Path:
    """shared/datasets next to the repository folder (the clone may live anywhere), or CHORUS_SHARED_DIR's."""
    if os.environ.get("CHORUS_SHARED_DIR"):
        return Path(os.environ["CHORUS_SHARED_DIR"]) / "datasets"
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "shared" / "datasets"
        if candidate.is_dir():
            return candidate
        candidate = parent.parent / "shared" / "datasets"
        if candidate.is_dir():
            return candidate
    # A clone made elsewhere (/tmp/chorus) finds it beside the repository it was cloned from, as the tests do.
    origin = subprocess.run(
        ["git", "-C", str(here.parent), "remote", "get-url", "origin"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    origin = origin.removeprefix("file://")
    if origin and (Path(origin).parent / "shared" / "datasets").is_dir():
        return Path(origin).parent / "shared" / "datasets"
    raise FileNotFoundError("shared/datasets not found beside the repository")


@dataclass
class Task:
    name: str
    cardinality: int
    # "accuracy" or "f1" (F1 of class 1, the positive class)
    metric: str
    L_train: np.ndarray
    L_dev: np.ndarray
    Y_dev: np.ndarray
    L_test: np.ndarray
    Y_test: np.ndarray
    # Without labels the model is fitted on L_train and scored on (L_eval, Y_eval).
    L_eval: np.ndarray
    Y_eval: np.ndarray


def _wrench(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    items = json.loads((folder / f"{split}.json").read_text())
    rows = [items[str(i)] for i in range(len(items))]
    L = np.array([r["weak_labels"] for r in rows], dtype=np.int64)
    Y = np.array([r["label"] for r in rows], dtype=np.int64)
    return L, Y


def wrench_youtube(root: Path) -> Task:
    folder = root / "wrench_youtube"
    Lt, _ = _wrench(folder, "train")
    Lv, Yv = _wrench(folder, "valid")
    Ls, Ys = _wrench(folder, "test")
    return Task("wrench_youtube", 2, "accuracy", Lt, Lv, Yv, Ls, Ys, Ls, Ys)


def wrench_sms(root: Path) -> Task:
    # Only valid and test are here: fit on valid (its labels are the dev labels), score on test.
    folder = root / "wrench_sms"
    Lv, Yv = _wrench(folder, "valid")
    Ls, Ys = _wrench(folder, "test")
    return Task("wrench_sms", 2, "f1", Lv, Lv, Yv, Ls, Ys, Ls, Ys)


def _rdp(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with path.open() as f:
        rows = list(csv.DictReader(f))
    lf_cols = [c for c in rows[0] if c.isdigit()]
    raw = np.array([[int(float(r[c])) for c in lf_cols] for r in rows], dtype=np.int64)
    # 1 = positive, -1 = negative, 0 = abstain  ->  1, 0, -1
    L = np.where(raw == 1, 1, np.where(raw == -1, 0, -1))
    gold = np.array([int(float(r["Label"])) for r in rows], dtype=np.int64)
    return L, np.where(gold == 1, 1, 0)


def rdp(root: Path, name: str, prefix: str, metric: str) -> Task:
    folder = root / "regularized_dp_lf_matrices" / name
    Lt, _ = _rdp(folder / f"{prefix}_lf_matrix_train.csv")
    Lv, Yv = _rdp(folder / f"{prefix}_lf_matrix_val.csv")
    Ls, Ys = _rdp(folder / f"{prefix}_lf_matrix_test.csv")
    return Task(name, 2, metric, Lt, Lv, Yv, Ls, Ys, Ls, Ys)


def crowd(root: Path, folder_name: str, name: str, seed: int = 0) -> Task:
    """Workers are the sources; fitted on all items. Dev = a seeded 10 % of items, test = the rest."""
    folder = root / "crowd_truth_inference" / folder_name
    with (folder / "answer.csv").open() as f:
        answers = list(csv.DictReader(f))
    with (folder / "truth.csv").open() as f:
        truth = {r["question"]: int(r["truth"]) for r in csv.DictReader(f)}
    items = sorted({a["question"] for a in answers} | set(truth))
    workers = sorted({a["worker"] for a in answers})
    item_ix = {q: i for i, q in enumerate(items)}
    worker_ix = {w: j for j, w in enumerate(workers)}
    labels = sorted({int(a["answer"]) for a in answers} | set(truth.values()))
    label_ix = {v: c for c, v in enumerate(labels)}
    L = np.full((len(items), len(workers)), -1, dtype=np.int64)
    for a in answers:
        L[item_ix[a["question"]], worker_ix[a["worker"]]] = label_ix[int(a["answer"])]
    Y = np.array([label_ix[truth[q]] if q in truth else -1 for q in items], dtype=np.int64)
    rng = np.random.default_rng(seed)
    dev = np.zeros(len(items), dtype=bool)
    dev[rng.permutation(len(items))[: len(items) // 10]] = True
    Y_test = np.where(dev, -1, Y)
    return Task(name, len(labels), "accuracy", L, L[dev], Y[dev], L, Y_test, L, Y)


def youtube_spam_comments(root: Path) -> tuple[list[str], np.ndarray]:
    """The raw YouTube Spam Collection: every comment's text and its gold (1 = spam, 0 = ham)."""
    texts, gold = [], []
    for path in sorted((root / "youtube_spam_collection").glob("Youtube0*.csv")):
        with path.open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                texts.append(row["CONTENT"])
                gold.append(int(row["CLASS"]))
    return texts, np.array(gold, dtype=np.int64)


def load_all() -> list[Task]:
    root = datasets_dir()
    return [
        wrench_youtube(root),
        wrench_sms(root),
        rdp(root, "TubeSpam", "TubeSpam", "accuracy"),
        rdp(root, "Spouse", "spouse", "f1"),
        crowd(root, "bluebirds_duck", "bluebirds"),
        crowd(root, "dog", "dog"),
        crowd(root, "face_sentiment", "face_sentiment"),
        crowd(root, "product", "product"),
    ]


def score(pred: np.ndarray, gold: np.ndarray, metric: str) -> float:
    """Percent. Rows without gold (-1) are left out; an uninformative prediction (-1) counts as wrong."""
    has = gold != -1
    p, g = pred[has], gold[has]
    if metric == "accuracy":
        return 100.0 * float((p == g).mean())
    tp = int(((p == 1) & (g == 1)).sum())
    fp = int(((p == 1) & (g != 1)).sum())
    fn = int(((p != 1) & (g == 1)).sum())
    return 100.0 * (2 * tp / (2 * tp + fp + fn) if tp else 0.0)
