"""Exports built by a worker into a file: Parquet of the labels, the label matrix for Snorkel users, and the
whole-project archive. The request only queues the job (no request waits for a file to be built); the API
and the page poll the job and offer its download once done.
"""

from __future__ import annotations

import io
import json
import logging
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from projects.models import JobStatus, Project, Sample
from projects.services import ServiceError

from . import archive, export
from .models import ExportJob

log = logging.getLogger(__name__)
EXTENSIONS = {"parquet": "parquet", "label_matrix": "zip", "archive": "chorus.zip"}
# Rows per Parquet row group: keyset pages of the export, so memory stays flat.
PARQUET_ROWS = 20_000


@transaction.atomic
def start_export(*, project: Project, user, fmt: str, options=None) -> ExportJob:
    fmt = (fmt or "").strip().lower()
    if fmt not in export.FILE_FORMATS:
        streamed = f"; {', '.join(export.FORMATS)} stream at once from GET /api/projects/{{id}}/export/"
        raise ServiceError(
            f"unknown export format {fmt!r}; choose one of {', '.join(export.FILE_FORMATS)}"
            + (streamed if fmt in export.FORMATS else ""),
            "format",
        )
    clean = export.export_options(options)
    if fmt == "label_matrix":
        export.require_run(project, "label matrix")  # the matrix is a run's; the other files need none
    elif fmt == "parquet":
        export.check_options(export.latest_run(project), clean)
    job = ExportJob.objects.create(project=project, created_by=user, format=fmt, options=clean.as_dict())
    from .tasks import build_export

    transaction.on_commit(lambda: build_export.delay(job.pk))
    return job


def build(job_id: int) -> None:
    """Build a queued export's file (called by the worker); a second delivery of the job does nothing."""
    claimed = ExportJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=timezone.now()
    )
    if claimed != 1:
        return
    job = ExportJob.objects.select_related("project").get(pk=job_id)
    project = job.project
    folder = Path(settings.MEDIA_ROOT) / "exports" / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            target = Path(tmp) / "export"
            if job.format == "archive":
                run = archive.build(project, target)
            else:
                options = export.export_options(job.options)
                if job.format == "parquet":
                    run = export.latest_run(project)
                    export.check_options(run, options)
                    _parquet(project, run, options, target)
                else:
                    run = export.require_run(project, "label matrix")
                    _label_matrix(run, target)
            name = f"{slugify(project.name) or f'project-{project.pk}'}-{job.format.replace('_', '-')}"
            name += f"{f'-run-{run.number or run.pk}' if run else ''}.{EXTENSIONS[job.format]}"
            with open(target, "rb") as stream:
                job.file.save(name, File(stream), save=False)
            ExportJob.objects.filter(pk=job.pk).update(
                file=job.file.name,
                size=target.stat().st_size,
                run=run,
                status=JobStatus.DONE,
                finished_at=timezone.now(),
            )
    except ServiceError as exc:
        ExportJob.objects.filter(pk=job.pk).update(
            status=JobStatus.FAILED, message=exc.message, finished_at=timezone.now()
        )
    except Exception:
        log.exception("export %s failed", job.pk)
        ExportJob.objects.filter(pk=job.pk).update(
            status=JobStatus.FAILED,
            message="the export failed because of an internal error",
            finished_at=timezone.now(),
        )


def parquet_schema(project: Project) -> pa.Schema:
    hand = pa.struct(
        [
            ("annotator", pa.string()),
            ("source", pa.string()),
            ("label", pa.string()),
            ("labeled_at", pa.string()),
        ]
    )
    return pa.schema(
        [
            ("sample_id", pa.int64()),
            ("external_id", pa.string()),
            ("row", pa.int64()),
            ("text", pa.large_string()),
            ("fields", pa.large_string()),  # JSON: fields differ from sample to sample
            ("split", pa.string()),
            ("predicted_label", pa.string()),
            *((f"probability_{name}", pa.float32()) for name in project.labels),
            ("confidence", pa.float32()),
            ("hand_label", pa.string()),
            ("hand_labels", pa.list_(hand)),
        ]
    )


def _parquet(project: Project, run, options, target: Path) -> None:
    schema = parquet_schema(project)
    labels = project.labels

    def table(batch: list[dict]) -> pa.Table:
        columns = {
            "sample_id": [r["sample_id"] for r in batch],
            "external_id": [r["external_id"] for r in batch],
            "row": [r["row"] for r in batch],
            "text": [r["text"] for r in batch],
            "fields": [json.dumps(r["fields"], ensure_ascii=False) for r in batch],
            "split": [r["split"] for r in batch],
            "predicted_label": [r["predicted_label"] for r in batch],
            **{
                f"probability_{name}": [
                    r["probabilities"][name] if r["probabilities"] else None for r in batch
                ]
                for name in labels
            },
            "confidence": [r["confidence"] for r in batch],
            "hand_label": [r["hand_label"] for r in batch],
            "hand_labels": [r["hand_labels"] for r in batch],
        }
        return pa.table(columns, schema=schema)

    with pq.ParquetWriter(target, schema) as writer:
        batch: list[dict] = []
        for record in export.records(project, run, options):
            batch.append(record)
            if len(batch) >= PARQUET_ROWS:
                writer.write_table(table(batch))
                batch = []
        writer.write_table(table(batch))


def _label_matrix(run, target: Path) -> None:
    """label_matrix.npy (n x m int16, -1 abstain), lf_names.json in column order, and the samples' ids."""
    matrix, names = export.label_matrix(run)
    buffer = io.BytesIO()
    np.save(buffer, matrix, allow_pickle=False)
    ids = list(
        Sample.objects.filter(project=run.project, row__lt=run.n_samples)
        .order_by("row")
        .values_list("external_id", flat=True)
    )
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("label_matrix.npy", buffer.getvalue())
        out.writestr("lf_names.json", json.dumps(names, ensure_ascii=False))
        out.writestr("external_ids.json", json.dumps(ids, ensure_ascii=False))
        out.writestr(
            "README.txt",
            "label_matrix.npy: one row per sample (in the order of external_ids.json), one column per labeling "
            "function (named in lf_names.json, same order); votes are class indexes "
            f"({', '.join(f'{i}={n}' for i, n in enumerate(run.project.labels))}), -1 is an abstain.\n"
            "In Python: L = numpy.load('label_matrix.npy'); snorkel.labeling.LFAnalysis(L).lf_summary()\n",
        )
