"""Annotators as sources: each annotator's hand labels as one column of the label matrix at refit.

With the project's switch on (Project.annotators_as_sources), the label model weighs annotators by their
estimated reliability alongside the LFs. An annotator column abstains (-1) wherever the annotator gave no
label, and the label model ignores those abstains ("ignore"), where an LF's abstain is an outcome: an
annotator not labeling a sample says nothing of its class. Skips, imported labels and the labels of
annotators an admin excluded are no votes. One query and numpy fancy indexing, no loop per annotation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from projects import quality
from projects.models import Project

from . import engine

KIND = "annotator"


@dataclass(frozen=True)
class AnnotatorColumns:
    """L is n x a (a annotators, ordered by username), -1 where the annotator did not label the row."""

    L: np.ndarray
    names: list[str]
    annotator_ids: list[int]


def annotator_columns(project: Project, n: int) -> AnnotatorColumns:
    rows = quality.counted_labels(project).filter(sample__row__lt=n)
    data = np.array(list(rows.values_list("sample__row", "annotator_id", "label")), dtype=np.int64)
    data = data.reshape(-1, 3)
    if len(data) == 0:
        return AnnotatorColumns(np.zeros((n, 0), dtype=np.int64), [], [])
    order, names, column = quality.annotator_order(data[:, 1])
    L = np.full((n, len(order)), engine.ABSTAIN, dtype=np.int64)
    L[data[:, 0], column] = data[:, 2]
    return AnnotatorColumns(L, names, order)


def for_refit(
    project: Project, L: np.ndarray
) -> tuple[np.ndarray, list[str] | None, AnnotatorColumns | None]:
    """The label matrix the refit fits on: the LF columns, then (switch on) one column per annotator, with
    the abstain mode of each column. With the switch off, or nobody labeled, L as it is and no modes."""
    if not project.annotators_as_sources:
        return L, None, None
    columns = annotator_columns(project, L.shape[0])
    if not columns.names:
        return L, None, None
    modes = ["outcome"] * L.shape[1] + ["ignore"] * len(columns.names)
    return np.hstack([L, columns.L]), modes, columns


def stats(columns: AnnotatorColumns | None, gold: np.ndarray, learned) -> list[dict]:
    """One row per annotator source for the dashboards: labels (coverage), accuracy on gold with its counts,
    and the label model's learned accuracy (learned holds the annotator columns' entries only)."""
    if columns is None:
        return []
    rows = []
    for j, s in enumerate(engine.lf_stats(columns.L, gold)):
        acc = None if learned is None or not np.isfinite(learned[j]) else float(learned[j])
        rows.append(
            {
                "kind": KIND,
                "name": columns.names[j],
                "annotator_id": columns.annotator_ids[j],
                "labels": int((columns.L[:, j] != engine.ABSTAIN).sum()),
                "coverage": s.coverage,
                "correct": s.correct,
                "incorrect": s.incorrect,
                "empirical_accuracy": s.empirical_accuracy,
                "learned_accuracy": acc,
            }
        )
    return rows
