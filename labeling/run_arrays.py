"""A finished run's per-sample arrays on disk, memory-mapped, so drill-downs never scan samples in SQL.

Written by the refit next to the project's snapshot (MEDIA_ROOT): the label matrix column by column (one
LF's votes are contiguous), the gold labels and splits as the run saw them, the predictions and the
probabilities. A drill-down maps them and picks rows with numpy (milliseconds at a million samples); the
database is asked only for the page's samples. A run whose folder is missing (an old run, another
machine's disk) is rebuilt from what the database keeps: the versions' votes and the run's arrays.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings

from .models import LabelModelRun, LFVersion

# Runs of a project whose arrays stay on disk; older ones are rebuilt on demand.
KEEP_RUNS = 5
NAMES = ("votes", "gold", "split", "pred", "proba", "n_votes", "distinct")


@dataclass(frozen=True)
class RunArrays:
    votes: np.ndarray  # m x n, in lf_stats order, -1 abstain
    gold: np.ndarray  # n, -1 without a hand label (when the run was made)
    split: np.ndarray  # n, 0 train / 1 dev / 2 test
    pred: np.ndarray  # n, -1 uninformative
    proba: np.ndarray  # n x k
    n_votes: np.ndarray  # n: how many LFs vote on the row
    distinct: np.ndarray  # n: how many different labels they vote (2+ is a conflict)

    @property
    def n(self) -> int:
        return int(self.gold.shape[0])


def folder(run: LabelModelRun) -> Path:
    return Path(settings.MEDIA_ROOT) / "runs" / f"project-{run.project_id}" / f"run-{run.pk}"


def vote_dtype(k: int):
    return np.int8 if k <= 127 else np.int16


def write(run: LabelModelRun, *, votes, gold, split, pred, proba) -> None:
    """Store the arrays of `run` (atomically: a reader sees all of them or none)."""
    path = folder(run)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    k = proba.shape[1] if proba.ndim == 2 else 2
    votes = np.asarray(votes)
    distinct = np.zeros(votes.shape[1], dtype=np.int16)
    for c in range(k):
        distinct += (votes == c).any(axis=0)
    arrays = {
        "votes": np.ascontiguousarray(votes, dtype=vote_dtype(k)),
        "gold": np.asarray(gold, dtype=np.int16),
        "split": np.asarray(split, dtype=np.int8),
        "pred": np.asarray(pred, dtype=np.int16),
        "proba": np.asarray(proba, dtype=np.float32),
        "n_votes": (votes != -1).sum(axis=0, dtype=np.int16),
        "distinct": distinct,
    }
    for name, array in arrays.items():
        np.save(tmp / f"{name}.npy", array, allow_pickle=False)
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)
    try:
        tmp.replace(path)
    except OSError:
        # Another process stored the same run's arrays first (two pages rebuilding at once): keep theirs.
        shutil.rmtree(tmp, ignore_errors=True)


def remove(run: LabelModelRun) -> None:
    """Delete the run's folder, and the project's when nothing else is left in it."""
    path = folder(run)
    shutil.rmtree(path, ignore_errors=True)
    with contextlib.suppress(OSError):
        path.parent.rmdir()


def prune(project_id: int, keep_ids) -> None:
    """Delete the folders of the project's runs not in keep_ids."""
    base = Path(settings.MEDIA_ROOT) / "runs" / f"project-{project_id}"
    if not base.is_dir():
        return
    keep = {f"run-{pk}" for pk in keep_ids}
    for child in base.iterdir():
        if child.is_dir() and child.name not in keep and ".tmp-" not in child.name:
            shutil.rmtree(child, ignore_errors=True)


def _map(path: Path) -> RunArrays | None:
    try:
        loaded = {name: np.load(path / f"{name}.npy", mmap_mode="r") for name in NAMES}
    except (FileNotFoundError, ValueError):
        return None
    return RunArrays(**loaded)


def load(run: LabelModelRun) -> RunArrays:
    arrays = _map(folder(run))
    if arrays is not None and arrays.votes.shape[0] == len(run.lf_stats or []):
        return arrays
    rebuild(run)
    arrays = _map(folder(run))
    assert arrays is not None
    return arrays


def rebuild(run: LabelModelRun) -> None:
    from .services import project_columns

    stored = LabelModelRun.objects.filter(pk=run.pk).values("predictions", "probabilities").first() or {}
    from .models import unpack

    pred = unpack(stored.get("predictions"))
    proba = unpack(stored.get("probabilities"))
    n = run.n_samples
    project = run.project
    split, gold = project_columns(project)
    k = len(project.labels)
    columns = {
        v.pk: v.vote_array() for v in LFVersion.objects.filter(pk__in=run.lf_versions).only("id", "votes")
    }
    votes = np.full((len(run.lf_stats or []), n), -1, dtype=vote_dtype(k))
    for j, s in enumerate(run.lf_stats or []):
        col = columns.get(s["version"])
        if col is not None:
            size = min(n, len(col))
            votes[j, :size] = col[:size]
    write(
        run,
        votes=votes,
        gold=_fit(gold, n, -1),
        split=_fit(split, n, 0),
        pred=_fit(pred if pred is not None else np.full(n, -1), n, -1),
        proba=proba if proba is not None and len(proba) == n else np.full((n, k), 1.0 / k),
    )


def _fit(array: np.ndarray, n: int, fill: int) -> np.ndarray:
    out = np.full(n, fill, dtype=np.int64)
    size = min(n, len(array))
    out[:size] = array[:size]
    return out
