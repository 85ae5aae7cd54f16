"""Exports of a project's labels: the latest finished run's predicted label, probability per class and
confidence for every sample, beside its fields and hand labels (annotator and time). Before any run has
finished the hand labels and fields are exported all the same, with the prediction columns empty (a team
that only labels by hand gets its labels out too). Used by the API and
the export page alike. CSV and JSONL stream (keyset pages by row); Parquet and the label matrix are written
to a file by a worker (labeling.export_jobs).

Options: `split` (train, dev or test), `only_informative` (samples whose prediction is not a tie or abstain),
`only_gold` (samples with an agreed hand label).

A CSV is opened in spreadsheets, which run a cell starting with = + - @ (or a tab or carriage return before
one) as a formula: such a text, external id or class name gets a leading single quote (OWASP's advice for
CSV injection), so "-5 stars" is exported as "'-5 stars" too. JSONL, Parquet and the archive are data, not
spreadsheets, and keep every value as it is.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from django.db import connection
from django.db.models import TextField
from django.db.models.functions import Cast
from django.http import StreamingHttpResponse
from django.utils.text import slugify

from projects.models import Annotation, JobStatus, Project, Sample, Split
from projects.services import ServiceError

from . import run_arrays
from .models import LabelModelRun, LFVersion

FORMATS = ("csv", "jsonl")
# Built by a worker into a file offered as a download (labeling.export_jobs).
FILE_FORMATS = ("parquet", "label_matrix", "archive")


@dataclass(frozen=True)
class ExportOptions:
    split: str | None = None
    only_informative: bool = False
    only_gold: bool = False

    def as_dict(self) -> dict:
        return {"split": self.split, "only_informative": self.only_informative, "only_gold": self.only_gold}


def _flag(value, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value or "").strip().lower()
    if text in ("", "0", "false", "no", "off"):
        return False
    if text in ("1", "true", "yes", "on"):
        return True
    raise ServiceError(f"{name} must be true or false, not {value!r}", name)


def export_options(data) -> ExportOptions:
    """Options from query parameters or a JSON body; ServiceError names a bad one."""
    data = data or {}
    split = (data.get("split") or "").strip().lower() or None
    if split is not None and split not in Split.values:
        raise ServiceError(f"unknown split {split!r}; choose one of {', '.join(Split.values)}", "split")
    return ExportOptions(
        split=split,
        only_informative=_flag(data.get("only_informative"), "only_informative"),
        only_gold=_flag(data.get("only_gold"), "only_gold"),
    )


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
        "confidence",
        "hand_label",
        "hand_labels",
        "fields",
    ]


def records(
    project: Project,
    run: LabelModelRun | None,
    options: ExportOptions | None = None,
    fields_as_text: bool = False,
) -> Iterator[dict]:
    """One dict per sample in row order. Samples imported after the run, and every sample when there is no
    run, have no prediction (None).

    fields_as_text: "fields" is the JSON text PostgreSQL prints for the jsonb column (the same separators
    and key order as json.dumps of the parsed value), for a CSV that would only print it again; a third of
    a CSV export's time was parsing and re-printing it. Elsewhere it is the parsed dict."""
    options = options or ExportOptions()
    labels = project.labels
    # The run's per-sample arrays (memory-mapped): predictions, probabilities and vote counts in one read.
    arrays = run_arrays.load(run) if run is not None and run.n_samples else None
    proba = None if arrays is None else arrays.proba
    pred = None if arrays is None else arrays.pred
    n_run = 0 if proba is None else min(run.n_samples, proba.shape[0])
    # The classes the run was fitted with: the project's first k_run (classes are only ever appended).
    k_run = 0 if proba is None else min(proba.shape[1] if proba.ndim == 2 else 0, len(labels))
    # A row no source voted on gets the class prior from the model: not a prediction, so it is exported
    # without probabilities (a prior of 0.98 would read as a confident label).
    no_vote = None
    if n_run:
        no_vote = (np.asarray(arrays.n_votes[:n_run]) == 0) & (np.asarray(pred[:n_run]) < 0)
    samples = Sample.objects.filter(project=project).order_by("row")
    if options.split:
        samples = samples.filter(split=options.split)
    if options.only_gold:
        samples = samples.filter(gold_label__isnull=False)
    if options.only_informative:
        samples = samples.filter(row__lt=n_run)
    # One probe: most exports of a weakly supervised project have no hand labels to look up per page.
    any_hand = Annotation.objects.filter(project=project, label__isnull=False).exists()
    # Only PostgreSQL's text is the same as json.dumps(..., ensure_ascii=False); SQLite keeps Django's
    # ASCII-escaped text, so there the dict is parsed and printed as before.
    raw_fields = fields_as_text and connection.vendor == "postgresql"
    fields_column: str | Cast = Cast("fields", output_field=TextField()) if raw_fields else "fields"
    last = -1
    while True:
        chunk = list(
            samples.filter(row__gt=last).values_list(
                "id", "external_id", "row", "text", "split", "gold_label", fields_column
            )[:CHUNK]
        )
        if not chunk:
            return
        last = chunk[-1][2]
        rows = np.fromiter((s[2] for s in chunk), dtype=np.int64, count=len(chunk))
        inside = rows < n_run
        if options.only_informative:
            # A tie or an all-abstain row predicts -1: no informative label to hand on.
            informative = np.zeros(len(chunk), dtype=bool)
            informative[inside] = pred[rows[inside]] >= 0
            chunk = [s for s, keep in zip(chunk, informative, strict=True) if keep]
            rows, inside = rows[informative], inside[informative]
            if not chunk:
                continue
        hand = _hand_labels(project, chunk) if any_hand else {}
        # float32 printed shortest-first: "0.6666667", not a 17-digit double.
        shown = np.full((len(chunk), len(labels)), "", dtype=object)
        confidence = np.full(len(chunk), "", dtype=object)
        if inside.any():
            # A run made before a class was added has fewer columns than the project has classes. The model
            # gave the new class no probability, so until the refit it is exported as 0 (the row's
            # probabilities still sum to 1, and JSONL keeps a number in every class); a blank would read as
            # "no prediction", which the row does have.
            shown[inside, k_run:] = "0.0"
            shown[inside, :k_run] = proba[rows[inside], :k_run].astype(str)
            confidence[inside] = proba[rows[inside]].max(axis=1).astype(str)
        for i, (sample_id, external_id, row, text, split, gold, fields) in enumerate(chunk):
            if inside[i] and not no_vote[row]:
                p = int(pred[row])
                predicted = labels[p] if 0 <= p < len(labels) else None
                probabilities = {name: float(shown[i, c]) for c, name in enumerate(labels)}
                sure = float(confidence[i])
            else:
                predicted = probabilities = sure = None
            yield {
                "sample_id": sample_id,
                "external_id": external_id,
                "row": row,
                "text": text,
                "fields": (fields if fields not in (None, "{}", "null") else "")
                if raw_fields
                else (fields or {}),
                "split": split,
                "predicted_label": predicted,
                "probabilities": probabilities,
                "confidence": sure,
                "hand_label": project.label_name(gold),
                "hand_labels": hand.get(sample_id, []),
            }


def _hand_labels(project: Project, chunk: list[tuple]) -> dict[int, list[dict]]:
    """The hand labels of a page of samples (tuples of id, external id, row, ...), found by the page's row
    range rather than a list of thousands of ids (whose query alone took longer to build than to run)."""
    out: dict[int, list[dict]] = defaultdict(list)
    wanted = {s[0] for s in chunk}
    rows = (
        Annotation.objects.filter(
            project=project, label__isnull=False, sample__row__gte=chunk[0][2], sample__row__lte=chunk[-1][2]
        )
        .order_by("sample_id", "created_at", "id")
        .values_list("sample_id", "source", "annotator__username", "label", "updated_at")
    )
    for sample_id, source, username, label, when in rows:
        if sample_id not in wanted:
            continue  # in the row range but filtered out of the export (another split, no gold)
        out[sample_id].append(
            {
                "annotator": username,
                "source": source,
                "label": project.label_name(label),
                "labeled_at": when.isoformat(),
            }
        )
    return out


def label_matrix(run: LabelModelRun) -> tuple[np.ndarray, list[str]]:
    """The run's label matrix (n samples x m LFs, int16, -1 abstain) and its LFs' names, in column order."""
    versions = {v.pk: v for v in LFVersion.objects.filter(pk__in=run.lf_versions).select_related("lf")}
    columns, names = [], []
    for pk in run.lf_versions:
        version = versions.get(pk)
        votes = version.vote_array() if version else None
        if votes is None:
            raise ServiceError(f"the votes of LF version {pk} are gone; refit to export a label matrix")
        columns.append(votes[: run.n_samples].astype(np.int16))
        names.append(version.lf.name)
    matrix = np.stack(columns, axis=1) if columns else np.zeros((run.n_samples, 0), dtype=np.int16)
    return matrix, names


# What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection"). A tab or carriage return is on
# the list because some spreadsheets skip it and read the formula after it.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: str) -> str:
    """The cell as text a spreadsheet shows rather than runs: a leading quote before a formula's first
    character. It cannot tell "-5 stars" from "-1+1" or "=1+1", so both get the quote."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


class _Line:
    """A file-like target for csv.writer that hands back what was written, for streaming."""

    def write(self, value: str) -> str:
        return value


def csv_lines(
    project: Project, run: LabelModelRun | None, options: ExportOptions | None = None
) -> Iterator[str]:
    writer = csv.writer(_Line())
    # The header's class names follow "probability_", so only the cells below need a look. Fields and hand
    # labels are JSON text, which starts with { or [.
    yield writer.writerow(csv_header(project))
    label_cell = {name: spreadsheet_safe(name) for name in project.labels}
    label_cell[None] = ""
    for r in records(project, run, options, fields_as_text=True):
        probabilities = r["probabilities"] or {}
        yield writer.writerow(
            [
                r["sample_id"],
                spreadsheet_safe(r["external_id"]),
                r["row"],
                spreadsheet_safe(r["text"]),
                r["split"],
                label_cell[r["predicted_label"]],
                *(probabilities.get(name, "") for name in project.labels),
                "" if r["confidence"] is None else r["confidence"],
                label_cell[r["hand_label"]],
                json.dumps(r["hand_labels"], ensure_ascii=False) if r["hand_labels"] else "",
                r["fields"] if isinstance(r["fields"], str) else _json_or_blank(r["fields"]),
            ]
        )


def _json_or_blank(value) -> str:
    return json.dumps(value, ensure_ascii=False) if value else ""


def jsonl_lines(
    project: Project, run: LabelModelRun | None, options: ExportOptions | None = None
) -> Iterator[str]:
    for r in records(project, run, options):
        yield json.dumps(r, ensure_ascii=False) + "\n"


# Said by the export page, and by a header of an export made before any run (X-Chorus-Notice).
NO_RUN = (
    "no label-model run has finished in this project yet, so the predicted_label, probability and confidence "
    "columns are empty; the hand labels and fields are exported"
)


def require_run(project: Project, what: str) -> LabelModelRun:
    """The latest finished run, for an export made of one (the label matrix); ServiceError without one."""
    run = latest_run(project)
    if run is None:
        raise ServiceError(
            f"there is no {what} to export yet: no label-model run has finished in this project (write a "
            "labeling function and wait for its refit); the CSV, JSONL, Parquet and archive exports need none",
            "format",
        )
    return run


def check_options(run: LabelModelRun | None, options: ExportOptions) -> None:
    if run is None and options.only_informative:
        raise ServiceError(
            "only_informative keeps the samples with a predicted label, and no label-model run has finished "
            "in this project yet; leave it off to export the hand labels",
            "only_informative",
        )


def export_response(project: Project, fmt: str | None, options=None) -> StreamingHttpResponse:
    """A streamed download of the latest finished run's labels (without a run: the hand labels and fields,
    the prediction columns empty); ServiceError for a bad format or option.

    options: an ExportOptions, or the request's query parameters (split, only_informative, only_gold).
    """
    fmt = (fmt or "").strip().lower()
    if fmt not in FORMATS:
        hint = f"; {', '.join(FILE_FORMATS)} are built by a worker (POST /api/projects/{{id}}/exports/)"
        raise ServiceError(
            f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}"
            + (hint if fmt in FILE_FORMATS else ""),
            "format",
        )
    if not isinstance(options, ExportOptions):
        options = export_options(options)
    run = latest_run(project)
    check_options(run, options)
    lines = csv_lines(project, run, options) if fmt == "csv" else jsonl_lines(project, run, options)
    response = StreamingHttpResponse(lines, content_type=CONTENT_TYPES[fmt])
    name = slugify(project.name) or f"project-{project.pk}"
    if run is None:
        response["Content-Disposition"] = f'attachment; filename="{name}-labels-no-run.{fmt}"'
        response["X-Chorus-Notice"] = NO_RUN
    else:
        response["Content-Disposition"] = (
            f'attachment; filename="{name}-labels-run-{run.number or run.pk}.{fmt}"'
        )
        response["X-Chorus-Run"] = str(run.pk)
    return response
