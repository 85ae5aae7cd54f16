"""Reads behind the analysis pages: the LF table, the conflict matrix, model metrics, history, overview.

All of it is what a run stored (lf_stats, summary, metrics, conflict/overlap matrices); a page makes a fixed
number of small queries whatever the number of samples or LFs.
"""

from __future__ import annotations

from html import escape  # the standard one: Django's lazy wrapper costs 10x on 2,500 cells

from django.db.models import Count, Q
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe

from projects import quality
from projects.models import Annotation, JobStatus

from . import charts
from .classes import padded_confusion
from .models import LabelingFunction, LabelModelRun, LFVersion
from .templatetags.labeling_format import pct

SPLITS = ("dev", "test")
# The figures of an LF row whose change since the previous run is shown.
DELTA_KEYS = (
    "coverage",
    "overlaps",
    "conflicts",
    "correct",
    "incorrect",
    "empirical_accuracy",
    "learned_accuracy",
)
SORT_KEYS = ("name", "kind", "label", "author", "version_number", *DELTA_KEYS, "n_gold")
# The sortable columns after the name, in the table's order.
TABLE_COLUMNS = (
    ("kind", "Kind"),
    ("label", "Label"),
    ("author", "Author"),
    ("version_number", "Version"),
    ("coverage", "Coverage"),
    ("overlaps", "Overlaps"),
    ("conflicts", "Conflicts"),
    ("correct", "Correct"),
    ("incorrect", "Incorrect"),
    ("empirical_accuracy", "Empirical accuracy"),
    ("learned_accuracy", "Learned accuracy"),
)
HISTORY_RUNS = 60
MODEL_NAMES = {
    "majority_vote": "majority vote",
    "dawid_skene": "Dawid–Skene",
    "matrix_completion": "matrix completion (Snorkel's)",
}
# Big per-sample or per-row fields no page here reads from the run row.
HEAVY = ("probabilities", "predictions", "conflict_detail", "conflict_rows")


def done_runs(project):
    return LabelModelRun.objects.filter(project=project, status=JobStatus.DONE).defer(*HEAVY)


def run_for(project, run_id=None) -> LabelModelRun | None:
    runs = done_runs(project)
    if run_id not in (None, ""):
        try:
            return runs.filter(pk=int(run_id)).first()
        except (TypeError, ValueError):
            return None
    return runs.first()


def drill_url(project, run: LabelModelRun | None = None, **params) -> str:
    """A drill-down link pinned to the run the figure comes from (a page may show an older run)."""
    if run is not None:
        params = {"run": run.pk, **params}
    return reverse("drilldown", args=[project.pk]) + "?" + urlencode(params)


def _model_name(run: LabelModelRun) -> str:
    model = run.model or {}
    name = model.get("chosen") or model.get("name") or "unknown"
    return MODEL_NAMES.get(name, name)


# --- the LF table -----------------------------------------------------------------------------------------------


def _previous(run: LabelModelRun) -> LabelModelRun | None:
    return (
        done_runs(run.project_id)
        .filter(Q(created_at__lt=run.created_at) | Q(created_at=run.created_at, pk__lt=run.pk))
        .only("id", "number", "lf_stats", "summary", "metrics", "created_at")
        .first()
    )


def _delta(now, before):
    if now is None or before is None:
        return None
    return now - before


def _sort(rows: list[dict], key: str, descending: bool) -> list[dict]:
    present = [r for r in rows if r.get(key) is not None]
    missing = [r for r in rows if r.get(key) is None]
    present.sort(key=lambda r: (r[key].lower() if isinstance(r[key], str) else r[key]), reverse=descending)
    return present + missing  # "n/a" last either way


def lf_table(project, run: LabelModelRun, sort: str = "", direction: str = "") -> dict:
    stats = run.lf_stats or []
    previous = _previous(run)
    before = {s["lf"]: s for s in (previous.lf_stats if previous else [])}
    versions = {
        v.pk: v
        for v in LFVersion.objects.filter(pk__in=run.lf_versions)
        .select_related("created_by", "lf")
        .only("id", "number", "created_by__username", "lf__deleted_at", "lf__id")
    }
    learned = (run.model or {}).get("learned_accuracies") or []
    edit_prefix = reverse("lf_edit", args=[project.pk, 0])[: -len("0/")]  # one reverse, not one per LF
    rows = []
    for j, s in enumerate(stats):
        v = versions.get(s["version"])
        row = dict(s)
        if row.get("learned_accuracy") is None and j < len(learned):
            row["learned_accuracy"] = learned[j]
        row["author"] = v.created_by.username if v and v.created_by else None
        row["live"] = bool(v and v.lf.deleted_at is None)
        row["edit_url"] = f"{edit_prefix}{s['lf']}/" if row["live"] else None
        row["n_gold"] = None if s.get("correct") is None else s["correct"] + s["incorrect"]
        old = before.get(s["lf"])
        row["is_new"] = previous is not None and old is None
        row["edited"] = old is not None and old.get("version") != s.get("version")
        row["delta"] = {k: _delta(row.get(k), old.get(k) if old else None) for k in DELTA_KEYS}
        rows.append(row)
    if sort in SORT_KEYS:
        rows = _sort(rows, sort, direction != "asc")
    in_run = {s["lf"] for s in stats}
    removed = [s for s in (previous.lf_stats if previous else []) if s["lf"] not in in_run]
    summary = run.summary or {}
    n = summary.get("n") or run.n_samples
    correct = sum(s.get("correct") or 0 for s in stats)
    on_gold = correct + sum(s.get("incorrect") or 0 for s in stats)
    old_summary = previous.summary if previous else {}
    overall = {
        "n": n,
        "coverage": summary.get("coverage"),
        "covered": summary.get("covered"),
        "overlap": summary.get("overlap"),
        "conflict": summary.get("conflict"),
        "conflicted": summary.get("conflicted"),
        "uninformative": summary.get("uninformative"),
        "uninformative_share": summary.get("uninformative", 0) / n if n else None,
        "uncovered": n - (summary.get("covered") or 0),
        "correct": correct,
        "on_gold": on_gold,
        "precision": correct / on_gold if on_gold else None,
        "delta": {
            k: _delta(summary.get(k), old_summary.get(k)) if previous else None
            for k in ("coverage", "overlap", "conflict", "precision")
        },
    }
    return {
        "run": run,
        "previous": previous,
        "rows": rows,
        "columns": TABLE_COLUMNS,
        "removed": removed,
        "overall": overall,
        "sort": sort if sort in SORT_KEYS else "",
        "direction": "asc" if direction == "asc" else "desc",
        "model_name": _model_name(run),
        "tie_policy": summary.get("tie_policy"),
        "labels": project.labels,
    }


# --- the conflict matrix ----------------------------------------------------------------------------------------


def conflict_view(project, run: LabelModelRun, view: str = "conflict") -> dict:
    stats = run.lf_stats or []
    names = [s["name"] for s in stats]
    overlap = view == "overlap"
    matrix = (run.overlap_matrix if overlap else run.conflict_matrix) or []
    n = run.n_samples
    ready = len(matrix) == len(stats)
    kind = "pair_overlaps" if overlap else "pair_conflicts"
    word = "both vote" if overlap else "vote different labels"

    base = reverse("drilldown", args=[project.pk]) + f"?run={run.pk}&"
    ids = [s["lf"] for s in stats]
    # Built once per cell with plain formatting (ids are ints): 2,500 reverse() calls cost seconds.
    links = [
        [
            (f"{base}kind=lf_votes&lf={ids[i]}" if overlap else None)
            if i == j
            else f"{base}kind={kind}&lf={ids[i]}&other={ids[j]}"
            for j in range(len(ids))
        ]
        for i in range(len(ids))
    ]

    def href(i, j):
        return links[i][j]

    def label(i, j):
        share = matrix[i][j]
        if i == j and not overlap:
            return f"{names[i]}: an LF does not conflict with itself"
        return f"{names[i]} × {names[j]}: {word} on {share:.1%} of samples ({round(share * n)})"

    svg = None
    table = []
    if ready and stats:
        scale = [
            [None if (i == j and not overlap) else v for j, v in enumerate(row)]
            for i, row in enumerate(matrix)
        ]
        top = max((v for row in scale for v in row if v is not None), default=0) or 1
        svg = charts.heatmap(
            matrix,
            names,
            names,
            title=f"{'Overlap' if overlap else 'Conflict'} matrix: share of samples where two labeling functions {word}",
            label=label,
            href=href,
            scale=[[None if v is None else v / top for v in row] for row in scale],
            # Big enough to aim at with a few LFs, small enough for 50 on a laptop screen.
            cell=max(14, min(44, 700 // max(len(stats), 1))),
        )
        table = _matrix_rows(stats, matrix, n, href)
    return {
        "run": run,
        "view": "overlap" if overlap else "conflict",
        "svg": svg,
        "table": table,
        "names": names,
        "ready": ready,
    }


def _matrix_rows(stats, matrix, n, href) -> SafeString:
    """The matrix as table rows, built here: at 50 LFs that is 2,500 cells, too many for template tags."""
    out = []
    for i, s in enumerate(stats):
        cells = []
        for j in range(len(stats)):
            link = href(i, j)
            share = matrix[i][j]
            if link:
                cells.append(
                    f'<td class="num"><a href="{escape(link)}" title="{round(share * n)} samples">'
                    f"{pct(share)}</a></td>"
                )
            else:
                cells.append('<td class="num"><span class="muted">—</span></td>')
        out.append(
            f'<tr id="matrix-row-{s["lf"]}"><th scope="row">{escape(s["name"])}</th>{"".join(cells)}</tr>'
        )
    return mark_safe("".join(out))


# --- model metrics ----------------------------------------------------------------------------------------------


def metrics_view(project, run: LabelModelRun) -> dict:
    labels = project.labels
    splits = []
    for name in SPLITS:
        m = (run.metrics or {}).get(name)
        if not m:
            continue
        confusion, abstained = padded_confusion(m, len(labels))
        grid = [list(row) + [abstained[i]] for i, row in enumerate(confusion)]
        columns = [*labels, "no label"]
        row_totals = [sum(r) or 1 for r in grid]
        confusion_svg = (
            charts.heatmap(
                grid,
                labels,
                columns,
                title=f"{name} confusion matrix: gold by row, predicted by column",
                label=lambda i,
                j,
                grid=grid,
                columns=columns: f"gold {labels[i]}, predicted {columns[j]}: {grid[i][j]}",
                href=lambda i, j, name=name: drill_url(
                    project,
                    run,
                    kind="confusion",
                    gold=labels[i],
                    predicted=(labels + ["none"])[j],
                    split=name,
                ),
                scale=[[v / row_totals[i] for v in r] for i, r in enumerate(grid)],
                cell=56,
                show_text=True,
            )
            if grid
            else None
        )
        bins = m.get("calibration") or []
        models = m.get("models") or {}
        chosen = (run.model or {}).get("chosen")
        comparison = [
            {
                "name": f"label model ({_model_name(run)})",
                "is_label_model": True,
                **{
                    k: m.get(k)
                    for k in ("coverage", "accuracy", "accuracy_covered", "f1_macro", "f1_macro_covered")
                },
            }
        ] + [
            {"name": MODEL_NAMES.get(key, key), "is_label_model": False, "same": key == chosen, **values}
            for key, values in models.items()
        ]
        splits.append(
            {
                "name": name,
                "m": m,
                "comparison_pending": not models and (run.summary or {}).get("comparison") == "pending",
                "per_class": [
                    dict(label=label, **(m.get("per_class") or {}).get(label, {})) for label in labels
                ],
                "confusion": [
                    {
                        "label": labels[i],
                        "cells": [
                            {
                                "count": v,
                                "href": drill_url(
                                    project,
                                    run,
                                    kind="confusion",
                                    gold=labels[i],
                                    predicted=(labels + ["none"])[j],
                                    split=name,
                                ),
                            }
                            for j, v in enumerate(row)
                        ],
                    }
                    for i, row in enumerate(grid)
                ],
                "confusion_svg": confusion_svg,
                "calibration": bins,
                "calibration_svg": charts.calibration_plot(
                    bins,
                    title=f"{name} calibration: predicted probability against observed frequency on gold",
                )
                if any(b.get("n") for b in bins)
                else None,
                "comparison": comparison,
            }
        )
    return {
        "run": run,
        "splits": splits,
        "labels": labels,
        "model_name": _model_name(run),
        "model": run.model or {},
        "tie_policy": (run.summary or {}).get("tie_policy"),
    }


# --- history ----------------------------------------------------------------------------------------------------

HISTORY_SERIES = (
    ("dev accuracy (overall)", "dev", "accuracy"),
    ("dev macro-F1 (overall)", "dev", "f1_macro"),
    ("test accuracy (overall)", "test", "accuracy"),
    ("coverage", None, "coverage"),
)


def _lf_set(run) -> str:
    return ", ".join(f"{s['name']} v{s.get('version_number', '?')}" for s in run.lf_stats or []) or "no LFs"


def _figures(run) -> dict:
    metrics = run.metrics or {}
    out = {"coverage": run.coverage}
    for split in SPLITS:
        for key in ("accuracy", "accuracy_covered", "f1_macro"):
            out[f"{split}_{key}"] = (metrics.get(split) or {}).get(key)
    return out


def compare(older: LabelModelRun, newer: LabelModelRun) -> dict:
    before = {s["lf"]: s for s in older.lf_stats or []}
    after = {s["lf"]: s for s in newer.lf_stats or []}
    added = [s for k, s in after.items() if k not in before]
    removed = [s for k, s in before.items() if k not in after]
    edited = [
        {"old": before[k], "new": s}
        for k, s in after.items()
        if k in before and before[k].get("version") != s.get("version")
    ]
    unchanged = [s for k, s in after.items() if k in before and before[k].get("version") == s.get("version")]
    a, b = _figures(older), _figures(newer)
    deltas = [{"key": key, "old": a[key], "new": b[key], "delta": _delta(b[key], a[key])} for key in a]
    seconds = None
    if newer.started_at and newer.finished_at:
        seconds = (newer.finished_at - newer.started_at).total_seconds()
    return {
        "older": older,
        "newer": newer,
        "added": added,
        "removed": removed,
        "edited": edited,
        "unchanged": unchanged,
        "deltas": deltas,
        "refit_seconds": seconds,
    }


def history_view(project, a_id="", b_id="") -> dict:
    runs = list(
        done_runs(project).only(
            "id",
            "number",
            "created_at",
            "started_at",
            "finished_at",
            "coverage",
            "metrics",
            "lf_stats",
            "lf_versions",
        )[:HISTORY_RUNS]
    )
    runs.reverse()  # oldest first, left to right
    points = [{"run": r, "figures": _figures(r), "lf_set": _lf_set(r)} for r in runs]
    svg = None
    if runs:
        series = [
            (title, [p["figures"]["coverage" if split is None else f"{split}_{key}"] for p in points])
            for title, split, key in HISTORY_SERIES
        ]
        svg = charts.line_chart(
            [f"#{r.pk}" for r in runs],
            series,
            title="Metrics over runs: each point is one refit with its set of labeling functions",
            point_titles=[f"run #{p['run'].pk}: {p['lf_set']}" for p in points],
            hrefs=[reverse("analysis_history", args=[project.pk]) + f"?b={r.pk}" for r in runs],
        )
    by_id = {r.pk: r for r in runs}

    def pick(raw):
        try:
            return by_id.get(int(raw))
        except (TypeError, ValueError):
            return None

    newer = pick(b_id) or (runs[-1] if runs else None)
    older = pick(a_id)
    if older is None and newer is not None:
        i = runs.index(newer)
        older = runs[i - 1] if i > 0 else None
    if (
        older is not None
        and newer is not None
        and (older.created_at, older.pk) > (newer.created_at, newer.pk)
    ):
        older, newer = newer, older
    return {
        "points": list(reversed(points)),  # the table: newest first
        "svg": svg,
        "series": HISTORY_SERIES,
        "comparison": compare(older, newer)
        if older is not None and newer is not None and older != newer
        else None,
        "a": older,
        "b": newer,
    }


# --- the project overview fragment ------------------------------------------------------------------------------


def overview(project, run: LabelModelRun | None) -> dict:
    labels = project.labels
    summary = (run.summary or {}) if run else {}
    predicted = summary.get("predicted_distribution") or {}
    # Gold as the run saw it, so both bars describe the same moment (the overview counts today's gold).
    gold_by_name = summary.get("gold_distribution") or {}
    gold_counts = {c: gold_by_name.get(name, 0) for c, name in enumerate(labels)}
    n_gold = sum(gold_counts.values())
    n_pred = sum(predicted.values())
    distribution = [
        {
            "label": name,
            "gold": gold_counts.get(c, 0),
            "gold_share": gold_counts.get(c, 0) / n_gold if n_gold else None,
            "predicted": predicted.get(name, 0) if run else None,
            "predicted_share": predicted.get(name, 0) / n_pred if n_pred else None,
            "href": drill_url(project, run, kind="predicted", label=name) if run else None,
        }
        for c, name in enumerate(labels)
    ]
    series = [("gold (hand-labeled)", [d["gold_share"] for d in distribution])]
    if run:
        series.append(("predicted by the label model", [d["predicted_share"] for d in distribution]))
    annotators = list(
        Annotation.objects.filter(project=project, source=Annotation.Source.HUMAN, annotator__isnull=False)
        .values("annotator__username")
        .annotate(
            labeled=Count("id", filter=Q(label__isnull=False)),
            skipped=Count("id", filter=Q(label__isnull=True)),
        )
        .order_by("-labeled", "annotator__username")
    )
    return {
        "run": run,
        "distribution": distribution,
        "distribution_svg": charts.grouped_bars(
            labels,
            series,
            title="Label distribution: gold against predicted",
            hrefs=[d["href"] for d in distribution],
        )
        if labels
        else None,
        "n_gold": n_gold,
        "n_predicted": n_pred,
        "uninformative": summary.get("uninformative"),
        "annotators": annotators,
        # As the run counted them: the fragment counts no samples itself.
        "n_samples": summary.get("n"),
        # Agreement between annotators (projects.quality reads the Annotation rows); the per-annotator
        # quality, which judges people, is on the agreement page for admins and reviewers only.
        "agreement": quality.project_agreement(project),
        "live_lfs": LabelingFunction.objects.live().filter(project=project).count(),
    }
