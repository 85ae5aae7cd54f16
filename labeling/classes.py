"""What a class rename means for labeling. Votes, predictions and run arrays hold class indexes and need
nothing; a run's stored results name classes (the predicted and gold distributions, per-class metrics, each
LF's label and polarity), so those are rewritten; an LF whose code or service answers with class names may
still answer the old one, which the person renaming is told about.
"""

from __future__ import annotations

import re

from projects.models import Project

from .models import LabelingFunction, LabelModelRun


def padded_confusion(metrics: dict, k: int) -> tuple[list[list[int]], list[int]]:
    """A split's confusion matrix (gold by row, predicted by column) and abstain counts, as k x k and k.

    A run made before classes were added counted fewer classes than the project has: the new classes get
    rows and columns of zeros (no gold of them was seen, nothing was predicted as them) until a refit."""
    confusion = [list(row)[:k] for row in (metrics.get("confusion_matrix") or [])[:k]]
    if not confusion:
        return [], list(metrics.get("abstained") or [])[:k]
    confusion = [row + [0] * (k - len(row)) for row in confusion]
    confusion += [[0] * k for _ in range(k - len(confusion))]
    abstained = list(metrics.get("abstained") or [])[:k]
    abstained += [0] * (k - len(abstained))
    return confusion, abstained


def relabel_results(summary: dict, metrics: dict, lf_stats: list, names: dict[str, str]) -> bool:
    """Rename classes (old name -> new name, all at once) in a run's summary, metrics and lf_stats, in place.
    True when anything changed."""
    changed = False

    def keys(d: dict | None) -> None:
        nonlocal changed
        if not isinstance(d, dict) or not any(k in names for k in d):
            return
        renamed = {names.get(k, k): v for k, v in d.items()}
        d.clear()
        d.update(renamed)
        changed = True

    for key in ("predicted_distribution", "gold_distribution"):
        keys((summary or {}).get(key))
    for split in (metrics or {}).values():
        if isinstance(split, dict):
            keys(split.get("per_class"))
    for s in lf_stats or []:
        if s.get("label") in names:
            s["label"] = names[s["label"]]
            changed = True
        polarity = s.get("polarity") or []
        if any(p in names for p in polarity):
            s["polarity"] = [names.get(p, p) for p in polarity]
            changed = True
    return changed


def rename_in_runs(project: Project, old: str, new: str) -> int:
    """Rewrite the class name in every run of the project; the number of runs changed."""
    changed = 0
    runs = LabelModelRun.objects.filter(project=project).only("id", "summary", "metrics", "lf_stats")
    for run in runs.iterator(chunk_size=100):
        summary, metrics, lf_stats = run.summary or {}, run.metrics or {}, run.lf_stats or []
        if relabel_results(summary, metrics, lf_stats, {old: new}):
            LabelModelRun.objects.filter(pk=run.pk).update(
                summary=summary, metrics=metrics, lf_stats=lf_stats
            )
            changed += 1
    return changed


def answering_by_name(project: Project, old: str) -> list[str]:
    """Notes on the live LFs that may still answer `old`: code that quotes it, and external services."""
    notes = []
    quoted = re.compile(r"""(['"])""" + re.escape(old) + r"\1")
    code, services = [], []
    for lf in LabelingFunction.objects.live().filter(project=project).select_related("current"):
        version = lf.current
        if version is None:
            continue
        if version.kind == "code" and quoted.search(str(version.config.get("source", ""))):
            code.append(lf.name)
        elif version.kind == "service":
            services.append(lf.name)
    if code:
        notes.append(
            f"The code of {_names(code)} returns {old!r}: edit it to return the new name (or the class "
            "index) before it runs on new samples; the votes it has cast are kept."
        )
    if services:
        notes.append(
            f"If the external service of {_names(services)} answers {old!r}, make it answer the new name "
            "or the class index; the votes it has cast are kept."
        )
    return notes


def _names(names: list[str]) -> str:
    quoted = [f"“{n}”" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def class_renamed(project: Project, old: str, new: str) -> list[str]:
    rename_in_runs(project, old, new)
    return answering_by_name(project, old)
