"""Reads behind the dashboard: the latest done run's stored figures and its conflicting samples.

Everything comes from what the refit stored (lf_stats, summary, metrics, conflict_rows) and the vote arrays
of the run's LF versions; no request scans the project's samples, and the number of queries is fixed.
"""

from __future__ import annotations

import numpy as np

from projects.models import JobStatus, Sample

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
        confusion = [
            {"label": labels[i], "cells": cells, "abstained": (m.get("abstained") or [0] * len(labels))[i]}
            for i, cells in enumerate(m.get("confusion_matrix", []))
        ]
        rows.append({"name": name, "m": m, "per_class": per_class, "confusion": confusion})
    return rows


def dashboard_context(project, *, after="", lf_filter="") -> dict:
    run = LabelModelRun.objects.filter(project=project, status=JobStatus.DONE).defer("probabilities").first()
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
            "conflicts": conflicts_page(project, run, after, lf_filter),
        }
    )
    return context


def conflicts_page(project, run: LabelModelRun, after="", lf_filter="", per_page=CONFLICTS_PER_PAGE) -> dict:
    """One keyset page of the run's conflicting samples, each with the votes of every LF that voted."""
    per_page = max(1, min(per_page, MAX_CONFLICTS_PER_PAGE))
    rows = np.asarray(run.conflict_rows or [], dtype=np.int64)
    stats = run.lf_stats or []
    versions = {
        v.pk: v
        for v in LFVersion.objects.filter(pk__in=run.lf_versions).only(
            "id", "votes", "label", "number", "lf_id"
        )
    }
    columns = []
    for s in stats:
        v = versions.get(s["version"])
        columns.append(v.vote_array() if v is not None else None)
    lf_id = _int_or_none(lf_filter)
    chosen = next((j for j, s in enumerate(stats) if s["lf"] == lf_id), None)
    if chosen is not None and columns[chosen] is not None:
        col = columns[chosen]
        rows = rows[(rows < len(col))]
        rows = rows[col[rows] != -1]
    total = int(rows.size)
    start = _int_or_none(after)
    if start is not None:
        rows = rows[rows > start]
    page = rows[: per_page + 1]
    has_more = page.size > per_page
    page = page[:per_page]
    samples = {
        s.row: s
        for s in Sample.objects.filter(project=project, row__in=[int(r) for r in page]).only(
            "id", "row", "external_id", "text", "split", "gold_label"
        )
    }
    predictions = unpack(
        LabelModelRun.objects.filter(pk=run.pk).values_list("predictions", flat=True).first()
    )
    labels = project.labels
    items = []
    for r in page:
        r = int(r)
        sample = samples.get(r)
        if sample is None:
            continue
        votes = []
        for j, s in enumerate(stats):
            col = columns[j]
            if col is None or r >= len(col) or col[r] < 0:
                continue
            votes.append({"name": s["name"], "lf": s["lf"], "label": project.label_name(int(col[r]))})
        predicted = None
        if predictions is not None and r < len(predictions) and predictions[r] >= 0:
            predicted = labels[int(predictions[r])]
        items.append(
            {
                "sample": sample,
                "gold": project.label_name(sample.gold_label),
                "predicted": predicted,
                "votes": votes,
                "labels_voted": sorted({v["label"] for v in votes}),
            }
        )
    return {
        "items": items,
        "total": total,
        "stored": len(run.conflict_rows or []),
        "all_conflicted": (run.summary or {}).get("conflicted"),
        "next_after": int(page[-1]) if has_more and page.size else None,
        "first_page": start is not None,
        "lf": stats[chosen] if chosen is not None else None,
        "per_page": per_page,
    }
