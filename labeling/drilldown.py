"""The samples behind a figure: which rows a drill-down selects, one keyset page of them, and one sample.

Rows are picked from the run's memory-mapped arrays (run_arrays) with numpy; the database is asked for the
page's samples only (row IN (...)), so a page costs the same at a thousand samples as at a million.
Pages are in row order; `after` is the last row of the previous page.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from projects.models import Annotation, Sample

from . import run_arrays
from .engine import lfs as lf_engine
from .highlight import highlight
from .models import LabelModelRun, LFVersion

PER_PAGE = 25
LOW_CONFIDENCE = 0.6
SPLIT_CODES = {"train": 0, "dev": 1, "test": 2}
# kind -> (title, the parameters it needs)
KINDS = {
    "lf_votes": ("Samples “{lf}” votes on", ("lf",)),
    "lf_overlaps": ("Samples where “{lf}” and another labeling function vote", ("lf",)),
    "lf_conflicts": ("Samples where another labeling function votes differently from “{lf}”", ("lf",)),
    "lf_correct": ("Hand-labeled samples where “{lf}” votes the gold label", ("lf",)),
    "lf_incorrect": ("Hand-labeled samples where “{lf}” disagrees with the gold label", ("lf",)),
    "lf_vs_model": ("Samples where “{lf}” disagrees with the label model", ("lf",)),
    "pair_conflicts": ("Samples where “{lf}” and “{other}” vote different labels", ("lf", "other")),
    "pair_overlaps": ("Samples where both “{lf}” and “{other}” vote", ("lf", "other")),
    "covered": ("Samples with at least one vote", ()),
    "overlapped": ("Samples with two votes or more", ()),
    "conflicted": ("Samples with different labels among their votes", ()),
    "uncovered": ("Samples no labeling function votes on", ()),
    "uninformative": ("Samples the label model leaves without a label (no vote, or a tie)", ()),
    "low_confidence": ("Samples labeled with a probability below {below}", ()),
    "predicted": ("Samples the label model labels {label}", ("label",)),
    "model_vs_gold": ("Hand-labeled samples where the label model disagrees with gold", ()),
    "confusion": ("Samples of gold {gold} the label model labels {predicted}", ("gold", "predicted")),
}


class BadDrilldown(ValueError):
    """A drill-down asked for something the run does not have (an unknown LF, class or kind)."""


@dataclass(frozen=True)
class Query:
    kind: str
    lf: int | None = None  # positions in the run's lf_stats
    other: int | None = None
    label: int | None = None
    gold: int | None = None
    predicted: int | None = None
    split: str | None = None
    below: float = LOW_CONFIDENCE
    after: int | None = None

    def params(self, stats: list[dict], labels: list[str], **change) -> dict:
        """The query string that names this drill-down (LFs by id, classes by name), with `change` applied."""
        out = {"kind": self.kind}
        if self.lf is not None:
            out["lf"] = stats[self.lf]["lf"]
        if self.other is not None:
            out["other"] = stats[self.other]["lf"]
        for key in ("label", "gold", "predicted"):
            value = getattr(self, key)
            if value is not None:
                out[key] = labels[value] if value >= 0 else "none"
        if self.split:
            out["split"] = self.split
        if self.kind == "low_confidence":
            out["below"] = f"{self.below:g}"
        out.update({k: v for k, v in change.items() if v is not None})
        return out


def parse(get, stats: list[dict], labels: list[str]) -> Query:
    kind = get.get("kind", "")
    if kind not in KINDS:
        raise BadDrilldown(f"unknown drill-down {kind!r}")
    position = {s["lf"]: j for j, s in enumerate(stats)}

    def lf(key):
        raw = get.get(key, "")
        if not raw.isdigit() or int(raw) not in position:
            raise BadDrilldown(f"this run has no labeling function with id {raw!r}")
        return position[int(raw)]

    def label(key):
        raw = get.get(key, "")
        if raw == "none":
            return -1
        if raw not in labels:
            raise BadDrilldown(f"no class named {raw!r}")
        return labels.index(raw)

    needs = KINDS[kind][1]
    split = get.get("split") or None
    if split is not None and split not in SPLIT_CODES:
        raise BadDrilldown(f"no split named {split!r}")
    try:
        below = float(get.get("below", LOW_CONFIDENCE))
    except ValueError:
        raise BadDrilldown("below must be a probability") from None
    after = get.get("after", "")
    return Query(
        kind=kind,
        lf=lf("lf") if "lf" in needs else None,
        other=lf("other") if "other" in needs else None,
        label=label("label") if "label" in needs else None,
        gold=label("gold") if "gold" in needs else None,
        predicted=label("predicted") if "predicted" in needs else None,
        split=split,
        below=min(max(below, 0.0), 1.0),
        after=int(after) if after.isdigit() else None,
    )


def mask(q: Query, a: run_arrays.RunArrays) -> np.ndarray:
    """The rows the drill-down selects, as a boolean array over the run's samples."""
    col = np.asarray(a.votes[q.lf]) if q.lf is not None else None
    voted = col != -1 if col is not None else None
    gold = np.asarray(a.gold)
    pred = np.asarray(a.pred)
    kind = q.kind
    if kind == "lf_votes":
        m = voted
    elif kind == "lf_overlaps":
        m = voted & (np.asarray(a.n_votes) >= 2)
    elif kind == "lf_conflicts":
        # The LF votes one label; a row with two labels or more has someone voting another one.
        m = voted & (np.asarray(a.distinct) >= 2)
    elif kind == "lf_correct":
        m = voted & (gold >= 0) & (col == gold)
    elif kind == "lf_incorrect":
        m = voted & (gold >= 0) & (col != gold)
    elif kind == "lf_vs_model":
        m = voted & (pred >= 0) & (col != pred)
    elif kind in ("pair_conflicts", "pair_overlaps"):
        other = np.asarray(a.votes[q.other])
        m = voted & (other != -1)
        if kind == "pair_conflicts":
            m &= col != other
    elif kind == "covered":
        m = np.asarray(a.n_votes) >= 1
    elif kind == "overlapped":
        m = np.asarray(a.n_votes) >= 2
    elif kind == "conflicted":
        m = np.asarray(a.distinct) >= 2
    elif kind == "uncovered":
        m = np.asarray(a.n_votes) == 0
    elif kind == "uninformative":
        m = pred < 0
    elif kind == "low_confidence":
        m = (pred >= 0) & (np.asarray(a.proba).max(axis=1) < q.below)
    elif kind == "predicted":
        m = pred == q.label
    elif kind == "model_vs_gold":
        m = (gold >= 0) & (pred != gold)
    else:  # confusion
        m = (gold == q.gold) & (pred == q.predicted)
    if q.split is not None:
        m = m & (np.asarray(a.split) == SPLIT_CODES[q.split])
    return m


def title(q: Query, stats: list[dict], labels: list[str]) -> str:
    name = lambda j: stats[j]["name"] if j is not None else ""  # noqa: E731
    label = lambda c: "no label" if c == -1 else labels[c] if c is not None else ""  # noqa: E731
    text = KINDS[q.kind][0].format(
        lf=name(q.lf),
        other=name(q.other),
        label=label(q.label),
        gold=label(q.gold),
        predicted=label(q.predicted),
        below=f"{q.below:.0%}",
    )
    return text + (f", {q.split} split" if q.split else "")


def versions_of(run: LabelModelRun) -> dict[int, LFVersion]:
    return {
        v.pk: v
        for v in LFVersion.objects.filter(pk__in=run.lf_versions)
        .select_related("created_by")
        .only("id", "kind", "label", "config", "number", "lf_id", "created_by__username")
    }


def spans_for(version: LFVersion | None, text: str) -> list[tuple[int, int]]:
    if version is None or version.kind not in ("keyword", "regex"):
        return []
    try:
        return lf_engine.spans(lf_engine.parse_config(version.kind, version.config), text)
    except lf_engine.LFConfigError:
        return []


def _samples(project, rows: list[int]) -> dict[int, Sample]:
    return {
        s.row: s
        for s in Sample.objects.filter(project=project, row__in=rows).only(
            "id", "row", "external_id", "text", "split", "gold_label"
        )
    }


def page(project, run: LabelModelRun, q: Query, per_page: int = PER_PAGE) -> dict:
    """One keyset page: the rows after q.after, each with its votes, prediction and gold label."""
    a = run_arrays.load(run)
    stats = run.lf_stats or []
    labels = project.labels
    selected = mask(q, a)
    total = int(np.count_nonzero(selected))
    start = 0 if q.after is None else q.after + 1
    hits = np.flatnonzero(selected[start:])[: per_page + 1] + start
    has_more = hits.size > per_page
    rows = [int(r) for r in hits[:per_page]]
    samples = _samples(project, rows)
    votes = np.asarray(a.votes[:, rows]) if rows else np.zeros((len(stats), 0), dtype=np.int8)
    highlight_version = versions_of(run).get(stats[q.lf]["version"]) if q.lf is not None else None
    items = []
    for i, r in enumerate(rows):
        sample = samples.get(r)
        if sample is None:
            continue
        p = int(a.pred[r])
        items.append(
            {
                "sample": sample,
                "html": highlight(sample.text, spans_for(highlight_version, sample.text)),
                "votes": [
                    {
                        "name": s["name"],
                        "lf": s["lf"],
                        "label": labels[int(votes[j, i])],
                        "drilled": j == q.lf,
                    }
                    for j, s in enumerate(stats)
                    if votes[j, i] >= 0
                ],
                "predicted": labels[p] if p >= 0 else None,
                "probability": float(a.proba[r].max()),
                "gold": project.label_name(int(a.gold[r])) if a.gold[r] >= 0 else None,
            }
        )
    return {
        "query": q,
        "title": title(q, stats, labels),
        "items": items,
        "total": total,
        "n": a.n,
        "next_after": rows[-1] if has_more else None,
        "first_page": q.after is not None,
        "per_page": per_page,
    }


def sample_detail(project, run: LabelModelRun | None, sample: Sample) -> dict:
    """Everything about one sample: every LF's vote with its learned weight, the probabilities, hand labels."""
    annotations = list(
        Annotation.objects.filter(sample=sample).select_related("annotator").order_by("created_at", "id")
    )
    out = {
        "sample": sample,
        "gold": project.label_name(sample.gold_label),
        "annotations": [
            {
                "who": a.annotator.username if a.annotator else "imported",
                "label": project.label_name(a.label),
                "skipped": a.label is None,
                "when": a.updated_at,
            }
            for a in annotations
        ],
        "html": highlight(sample.text, [], window=len(sample.text) + 1),
        "votes": [],
        "probabilities": [],
    }
    if run is None:
        return out
    a = run_arrays.load(run)
    r = sample.row
    if r >= a.n:
        return out  # imported after the run
    versions = versions_of(run)
    labels = project.labels
    spans: list[tuple[int, int]] = []
    votes = []
    learned = (run.model or {}).get("learned_accuracies") or []
    for j, s in enumerate(run.lf_stats or []):
        vote = int(a.votes[j, r])
        version = versions.get(s["version"])
        if vote >= 0:
            spans.extend(spans_for(version, sample.text))
        weight = s.get("learned_accuracy")
        if weight is None and j < len(learned):
            weight = learned[j]
        votes.append(
            {
                "name": s["name"],
                "lf": s["lf"],
                "version": s.get("version_number"),
                "label": labels[vote] if vote >= 0 else None,
                "learned_accuracy": weight,
                "empirical_accuracy": s.get("empirical_accuracy"),
            }
        )
    p = int(a.pred[r])
    out.update(
        {
            "html": highlight(sample.text, spans, window=len(sample.text) + 1),
            "votes": votes,
            "probabilities": [
                # A class added after the run has no column yet: the model gave it nothing (0) until a refit.
                {
                    "label": labels[c],
                    "p": float(a.proba[r, c]) if c < a.proba.shape[1] else 0.0,
                    "chosen": c == p,
                }
                for c in range(len(labels))
            ],
            "predicted": labels[p] if p >= 0 else None,
            "gold_at_run": project.label_name(int(a.gold[r])) if a.gold[r] >= 0 else None,
        }
    )
    return out
