"""The annotation queue's orders that need labeling's data, registered into projects.queue at start-up.

projects never imports labeling, so labeling hands it these providers (labeling/apps.py). Each answers
cheaply with the latest done run's id as the key; the rows are computed only when projects.queue has no
array for that key yet (once per run and process).
"""

from __future__ import annotations

import numpy as np

from projects.models import JobStatus, QueueOrder

from .models import LabelModelRun, LFVersion


def _latest_run(project) -> int | None:
    return (
        LabelModelRun.objects.filter(project=project, status=JobStatus.DONE)
        .order_by("-created_at", "-id")
        .values_list("pk", flat=True)
        .first()
    )


def least_confident(project):
    run_id = _latest_run(project)
    if run_id is None:
        return None

    def load() -> np.ndarray:
        proba = LabelModelRun.objects.get(pk=run_id).probability_array()
        if proba is None or not len(proba):
            return np.zeros(0, dtype=np.int64)
        return np.argsort(proba.max(axis=1), kind="stable")

    return run_id, load


def _vote_masks(run_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(covered, conflicted) per row over the run's LF versions, one vote array in memory at a time."""
    run = LabelModelRun.objects.only("lf_versions", "n_samples").get(pk=run_id)
    n = run.n_samples
    first = np.full(n, -1, dtype=np.int16)
    conflicted = np.zeros(n, dtype=bool)
    for pk in run.lf_versions:
        version = LFVersion.objects.only("votes").filter(pk=pk).first()
        votes = version.vote_array() if version else None
        if votes is None or len(votes) != n:
            continue
        voted = votes >= 0
        conflicted |= voted & (first >= 0) & (votes != first)
        first = np.where(first < 0, votes, first)
    return first >= 0, conflicted


def conflicts_first(project):
    run_id = _latest_run(project)
    if run_id is None:
        return None
    return run_id, lambda: np.flatnonzero(_vote_masks(run_id)[1])


def uncovered_first(project):
    run_id = _latest_run(project)
    if run_id is None:
        return None
    return run_id, lambda: np.flatnonzero(~_vote_masks(run_id)[0])


_predictions: dict[int, np.ndarray] = {}  # run id -> its predicted classes; a few runs per process


def predicted(project, sample) -> int | None:
    """The latest done run's class for the sample (None before a run, for new rows, or when uninformative)."""
    run_id = _latest_run(project)
    if run_id is None:
        return None
    pred = _predictions.get(run_id)
    if pred is None:
        pred = LabelModelRun.objects.get(pk=run_id).prediction_array()
        pred = np.zeros(0, dtype=np.int16) if pred is None else pred
        if len(_predictions) >= 8:
            _predictions.pop(next(iter(_predictions)))
        _predictions[run_id] = pred
    if sample.row >= len(pred) or pred[sample.row] < 0:
        return None
    return int(pred[sample.row])


def register() -> None:
    from projects import queue

    queue.register_order(QueueOrder.LEAST_CONFIDENT, least_confident)
    queue.register_order(QueueOrder.CONFLICTS, conflicts_first)
    queue.register_order(QueueOrder.UNCOVERED, uncovered_first)
    if predicted not in queue.PREDICTION_PROVIDERS:
        queue.PREDICTION_PROVIDERS.append(predicted)
