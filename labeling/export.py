"""Exports of a project's labels: the latest finished run's predicted label and probability per class for
every sample, beside its hand labels. Used by the API and the export page alike.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Iterator

import numpy as np
from django.http import StreamingHttpResponse
from django.utils.text import slugify

from projects.models import Annotation, JobStatus, Project, Sample
from projects.services import ServiceError

from .models import LabelModelRun

FORMATS = ("csv", "jsonl")
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}
# Samples read per query while streaming: keyset pages by row, so memory stays flat at any project size.
CHUNK = 2000


def latest_run(project: Project) -> LabelModelRun | None:
    """The newest run that finished (status done), or None."""
    return (
        LabelModelRun.objects.filter(project=project, status=JobStatus.DONE)
        .order_by("-created_at", "-id")
        .first()
    )


def csv_header(project: Project) -> list[str]:
    return [
        "sample_id",
        "external_id",
        "row",
        "text",
        "split",
        "predicted_label",
        *(f"probability_{name}" for name in project.labels),
        "hand_label",
        "hand_labels",
    ]


def records(project: Project, run: LabelModelRun) -> Iterator[dict]:
    """One dict per sample in row order. Samples imported after the run have no prediction (None)."""
    labels = project.labels
    proba = run.probability_array()
    pred = run.prediction_array()
    n_run = 0 if proba is None else min(run.n_samples, proba.shape[0])
    samples = Sample.objects.filter(project=project).order_by("row")
    last = -1
    while True:
        chunk = list(
            samples.filter(row__gt=last).values_list(
                "id", "external_id", "row", "text", "split", "gold_label"
            )[:CHUNK]
        )
        if not chunk:
            return
        last = chunk[-1][2]
        hand = _hand_labels(project, [s[0] for s in chunk])
        rows = np.fromiter((s[2] for s in chunk), dtype=np.int64, count=len(chunk))
        inside = rows < n_run
        # float32 printed shortest-first: "0.6666667", not a 17-digit double.
        shown = np.full((len(chunk), len(labels)), "", dtype=object)
        if inside.any():
            shown[inside] = proba[rows[inside]].astype(str)
        for i, (sample_id, external_id, row, text, split, gold) in enumerate(chunk):
            if inside[i]:
                predicted = project.label_name(int(pred[row]))
                probabilities = {name: float(shown[i, c]) for c, name in enumerate(labels)}
            else:
                predicted = None
                probabilities = None
            yield {
                "sample_id": sample_id,
                "external_id": external_id,
                "row": row,
                "text": text,
                "split": split,
                "predicted_label": predicted,
                "probabilities": probabilities,
                "hand_label": project.label_name(gold),
                "hand_labels": hand.get(sample_id, []),
            }


def _hand_labels(project: Project, sample_ids: list[int]) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = defaultdict(list)
    rows = (
        Annotation.objects.filter(project=project, sample_id__in=sample_ids, label__isnull=False)
        .order_by("sample_id", "created_at", "id")
        .values_list("sample_id", "source", "annotator__username", "label")
    )
    for sample_id, source, username, label in rows:
        out[sample_id].append({"annotator": username, "source": source, "label": project.label_name(label)})
    return out


class _Line:
    """A file-like target for csv.writer that hands back what was written, for streaming."""

    def write(self, value: str) -> str:
        return value


def csv_lines(project: Project, run: LabelModelRun) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(csv_header(project))
    for r in records(project, run):
        probabilities = r["probabilities"] or {}
        yield writer.writerow(
            [
                r["sample_id"],
                r["external_id"],
                r["row"],
                r["text"],
                r["split"],
                r["predicted_label"] or "",
                *(probabilities.get(name, "") for name in project.labels),
                r["hand_label"] or "",
                json.dumps(r["hand_labels"], ensure_ascii=False) if r["hand_labels"] else "",
            ]
        )


def jsonl_lines(project: Project, run: LabelModelRun) -> Iterator[str]:
    for r in records(project, run):
        yield json.dumps(r, ensure_ascii=False) + "\n"


def export_response(project: Project, fmt: str | None) -> StreamingHttpResponse:
    """A streamed download of the latest finished run's labels; ServiceError for a bad format or no run."""
    fmt = (fmt or "").strip().lower()
    if fmt not in FORMATS:
        raise ServiceError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}", "format")
    run = latest_run(project)
    if run is None:
        raise ServiceError(
            "there are no predicted labels to export yet: no label-model run has finished in this project "
            "(write a labeling function and wait for its refit)"
        )
    lines = csv_lines(project, run) if fmt == "csv" else jsonl_lines(project, run)
    response = StreamingHttpResponse(lines, content_type=CONTENT_TYPES[fmt])
    name = slugify(project.name) or f"project-{project.pk}"
    response["Content-Disposition"] = f'attachment; filename="{name}-labels-run-{run.pk}.{fmt}"'
    response["X-Chorus-Run"] = str(run.pk)
    return response
