"""Reads behind the dashboard: the latest done run's stored figures and its conflicting samples.

Everything comes from what the refit stored (lf_stats, summary, metrics, conflict_rows) and the vote arrays
of the run's LF versions; no request scans the project's samples, and the number of queries is fixed.
"""

from __future__ import annotations

import numpy as np

from projects.models import JobStatus, Sample

from .classes import padded_confusion
from .models import LabelingFunction, LabelModelRun, LFVersion, unpack

CONFLICTS_PER_PAGE = 20
MAX_CONFLICTS_PER_PAGE = 50
SPLITS = ("dev", "test")


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _distribution(summary: dict, labels: list[str]) -> list[dict]:
    predicted = summary.get("predicted_distribution", {})
    gold = summary.get("gold_distribution", {})
    n_pred = sum(predicted.values()) or 0
    n_gold = sum(gold.values()) or 0
    return [
        {
            "label": name,
            "predicted": predicted.get(name, 0),
            "predicted_share": predicted.get(name, 0) / n_pred if n_pred else None,
            "gold": gold.get(name, 0),
            "gold_share": gold.get(name, 0) / n_gold if n_gold else None,
        }
        for name in labels
    ]


def _split_rows(metrics: dict, labels: list[str]) -> list[dict]:
    rows = []
    for name in SPLITS:
        m = metrics.get(name)
        if not m:
            continue
        per_class = [dict(label=label, **m.get("per_class", {}).get(label, {})) for label in labels]
        matrix, abstained = padded_confusion(m, len(labels))
        confusion = [
            {"label": labels[i], "cells": cells, "abstained": abstained[i]} for i, cells in enumerate(matrix)
        ]
        rows.append({"name": name, "m": m, "per_class": per_class, "confusion": confusion})
    return rows


def dashboard_context(project, *, after="", lf_filter="") -> dict:
    run = (
        LabelModelRun.objects.filter(project=project, status=JobStatus.DONE)
        .defer("probabilities", "predictions")
        .first()
    )
    context = {"project": project, "run": run}
    if run is None:
        return context
    labels = project.labels
    live = set(
        LabelingFunction.objects.live()
        .filter(project=project, pk__in=[s["lf"] for s in run.lf_stats])
        .values_list("pk", flat=True)
    )
    summary = run.summary or {}
    n = summary.get("n") or run.n_samples
    context.update(
        {
            "summary": summary,
            "n": n,
            "uninformative_share": summary.get("uninformative", 0) / n if n else None,
            "lf_rows": [dict(s, live=s["lf"] in live) for s in run.lf_stats],
            "distribution": _distribution(summary, labels),
            "splits": _split_rows(run.metrics or {}, labels),
            "model": run.model or {},
            "model_name": (run.model or {}).get("chosen") or (run.model or {}).get("name") or "unknown",
            "model_settings": ", ".join(
                f"{k}: {v}" for k, v in ((run.model or {}).get("settings") or {}).items()
            ),
            "labels": labels,
            # Classes the run's label model left out, no source voting them (a class added before its LFs).
            "unvoted": [
                project.label_name(c)
                for c in (run.model or {}).get("unvoted_classes") or []
                if 0 <= c < len(labels)
            ],
            "conflicts": conflicts_page(project, run, after, lf_filter),
        }
    )
    return context


def _conflict_matrix(run: LabelModelRun) -> tuple[np.ndarray, np.ndarray]:
    """Votes (rows x LFs, lf_stats order) and predictions of the run's conflict rows.

    Runs store them (conflict_detail); for a run made before that, they are read from the vote arrays.
    """
    rows = np.asarray(run.conflict_rows or [], dtype=np.int64)
    m = len(run.lf_stats or [])
    detail = run.conflict_detail or {}
    votes, predicted = detail.get("votes"), detail.get("predicted")
    if votes is not None and predicted is not None and len(votes) == len(rows):
        matrix = np.asarray(votes, dtype=np.int64).reshape(len(rows), m)
        return matrix, np.asarray(predicted, dtype=np.int64)
    arrays = {
        v.pk: v.vote_array() for v in LFVersion.objects.filter(pk__in=run.lf_versions).only("id", "votes")
    }
    matrix = np.full((len(rows), m), -1, dtype=np.int64)
    for j, s in enumerate(run.lf_stats or []):
        col = arrays.get(s["version"])
        if col is not None:
            inside = rows < len(col)
            matrix[inside, j] = col[rows[inside]]
    stored = unpack(LabelModelRun.objects.filter(pk=run.pk).values_list("predictions", flat=True).first())
    predicted = np.full(len(rows), -1, dtype=np.int64)
    if stored is not None:
        inside = rows < len(stored)
        predicted[inside] = stored[rows[inside]]
    return matrix, predicted


def conflicts_page(project, run: LabelModelRun, after="", lf_filter="", per_page=CONFLICTS_PER_PAGE) -> dict:
    """One keyset page of the run's conflicting samples, each with the votes of every LF that voted."""
    per_page = max(1, min(per_page, MAX_CONFLICTS_PER_PAGE))
    rows = np.asarray(run.conflict_rows or [], dtype=np.int64)
    stats = run.lf_stats or []
    votes, predicted = _conflict_matrix(run)
    keep = np.ones(len(rows), dtype=bool)
    lf_id = _int_or_none(lf_filter)
    chosen = next((j for j, s in enumerate(stats) if s["lf"] == lf_id), None)
    if chosen is not None:
        keep &= votes[:, chosen] != -1
    total = int(keep.sum())
    start = _int_or_none(after)
    if start is not None:
        keep &= rows > start
    positions = np.flatnonzero(keep)[: per_page + 1]
    has_more = positions.size > per_page
    positions = positions[:per_page]
    page_rows = [int(rows[i]) for i in positions]
    samples = {
        s.row: s
        for s in Sample.objects.filter(project=project, row__in=page_rows).only(
            "id", "row", "external_id", "text", "split", "gold_label"
        )
    }
    items = []
    for i, r in zip(positions, page_rows, strict=True):
        sample = samples.get(r)
        if sample is None:
            continue
        row_votes = [
            {"name": s["name"], "lf": s["lf"], "label": project.label_name(int(votes[i, j]))}
            for j, s in enumerate(stats)
            if votes[i, j] >= 0
        ]
        items.append(
            {
                "sample": sample,
                "gold": project.label_name(sample.gold_label),
                "predicted": project.label_name(int(predicted[i])),
                "votes": row_votes,
                "labels_voted": sorted({v["label"] for v in row_votes}),
            }
        )
    return {
        "items": items,
        "total": total,
        "stored": len(rows),
        "all_conflicted": (run.summary or {}).get("conflicted"),
        "next_after": page_rows[-1] if has_more and page_rows else None,
        "first_page": start is not None,
        "lf": stats[chosen] if chosen is not None else None,
        "per_page": per_page,
    }
