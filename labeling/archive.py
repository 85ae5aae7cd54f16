"""A whole project in one zip file, and back: samples, label schema and settings, hand labels, LFs with every
version (kind, config, source), and the latest finished run with its probabilities.

Restoring an archive into another Chorus makes a new project whose refit (same seed, same samples in the same
rows, same gold labels, same LF definitions) gives the same LF statistics and probabilities. Hand labels by
people who have no account there keep their label as the sample's gold label, without an annotator.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
from django.contrib.auth import get_user_model
from django.db import transaction

from projects import services as project_services
from projects.models import Annotation, Project, Sample
from projects.services import ServiceError

from . import export
from . import services as labeling_services
from .models import LabelingFunction, LabelModelRun, LFVersion

FORMAT_VERSION = 1
MANIFEST = "chorus-archive.json"
SETTINGS = ("description", "instructions", "label_model", "code_modules", "seed", "overlap", "blind")
SETTINGS_LISTS = ("skip_reasons",)
CHUNK = 5000


def _jsonl(records) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


def _npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array, allow_pickle=False)
    return out.getvalue()


def _samples(project: Project):
    last = -1
    labels = project.labels
    while True:
        chunk = list(
            Sample.objects.filter(project=project, row__gt=last)
            .order_by("row")
            .values("row", "external_id", "text", "fields", "split", "gold_label")[:CHUNK]
        )
        if not chunk:
            return
        last = chunk[-1]["row"]
        for s in chunk:
            gold = s.pop("gold_label")
            s["gold_label"] = labels[gold] if gold is not None else None
            yield s


def build(project: Project, target: Path) -> LabelModelRun | None:
    """Write the project's archive to `target`; returns the run it holds (None when none finished)."""
    labels = project.labels
    run = export.latest_run(project)
    lfs = []
    for lf in LabelingFunction.objects.live().filter(project=project).order_by("created_at", "id"):
        versions = [
            {
                "number": v.number,
                "kind": v.kind,
                "label": labels[v.label] if 0 <= v.label < len(labels) else None,
                "config": v.config,
                "source": v.config.get("source") if v.kind == "code" else None,
                "created_at": v.created_at.isoformat(),
            }
            for v in lf.versions.order_by("number")
        ]
        current = lf.current.number if lf.current_id else None
        lfs.append({"name": lf.name, "active": lf.active, "current": current, "versions": versions})
    annotations = (
        Annotation.objects.filter(project=project)
        .order_by("sample__row", "created_at", "id")
        .values_list("sample__external_id", "annotator__username", "source", "label", "reason", "created_at")
    )
    manifest = {
        "format": FORMAT_VERSION,
        "project": {
            "name": project.name,
            "labels": labels,
            "queue_order": project.queue_order,
            **{k: getattr(project, k) for k in SETTINGS + SETTINGS_LISTS},
        },
        "samples": Sample.objects.filter(project=project).count(),
        "run": None,
    }
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("samples.jsonl", "w", force_zip64=True) as out:
            batch = []
            for record in _samples(project):
                batch.append(record)
                if len(batch) >= CHUNK:
                    out.write(_jsonl(batch))
                    batch = []
            out.write(_jsonl(batch))
        archive.writestr(
            "annotations.jsonl",
            _jsonl(
                {
                    "external_id": external_id,
                    "annotator": username,
                    "source": source,
                    "label": labels[label] if label is not None else None,
                    "reason": reason,
                    "created_at": created.isoformat(),
                }
                for external_id, username, source, label, reason, created in annotations.iterator()
            ),
        )
        archive.writestr("lfs.json", json.dumps(lfs, ensure_ascii=False, indent=1))
        if run is not None:
            names = dict(LFVersion.objects.filter(pk__in=run.lf_versions).values_list("pk", "lf__name"))
            numbers = dict(LFVersion.objects.filter(pk__in=run.lf_versions).values_list("pk", "number"))
            manifest["run"] = {
                "lf_versions": [[names.get(pk), numbers.get(pk)] for pk in run.lf_versions],
                "n_samples": run.n_samples,
                "model": run.model,
                "coverage": run.coverage,
                "summary": run.summary,
                "metrics": run.metrics,
                "lf_stats": run.lf_stats,
                "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            }
            for name, array in (
                ("probabilities", run.probability_array()),
                ("predictions", run.prediction_array()),
            ):
                if array is not None:
                    archive.writestr(f"run/{name}.npy", _npy(array))
            matrix, _ = export.label_matrix(run)
            archive.writestr("run/label_matrix.npy", _npy(matrix))
        archive.writestr(MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1))
    return run


def read_run(path: Path) -> tuple[dict | None, dict[str, np.ndarray]]:
    """The archived run's record and arrays (for checks and for whoever wants the old figures)."""
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read(MANIFEST))
        arrays = {
            Path(name).stem: np.load(io.BytesIO(archive.read(name)), allow_pickle=False)
            for name in archive.namelist()
            if name.startswith("run/") and name.endswith(".npy")
        }
    return manifest["run"], arrays


def restore(*, user, path: Path, name: str | None = None) -> Project:
    """A new project from an archive, with `user` as its admin; its LFs are applied and refit by the worker."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ServiceError("the file is not a Chorus archive (not a zip file)", "file") from None
    with archive:
        try:
            manifest = json.loads(archive.read(MANIFEST))
        except KeyError:
            raise ServiceError(
                f"the zip file has no {MANIFEST}: it is not a Chorus archive", "file"
            ) from None
        if manifest.get("format") != FORMAT_VERSION:
            raise ServiceError(
                f"archive format {manifest.get('format')!r} is not one this Chorus reads", "file"
            )
        meta = manifest["project"]
        with transaction.atomic():
            project = project_services.create_project(
                user=user, name=name or meta["name"], labels=meta["labels"]
            )
            for key in SETTINGS + SETTINGS_LISTS + ("queue_order",):
                if key in meta:
                    setattr(project, key, meta[key])
            project.save()
            staged = Path(path).with_suffix(".samples.jsonl")
            with archive.open("samples.jsonl") as source, open(staged, "wb") as out:
                while chunk := source.read(1 << 20):
                    out.write(chunk)
            try:
                project_services.import_file(
                    project=project,
                    path=str(staged),
                    options={
                        "text_field": "text",
                        "id_field": "external_id",
                        "split_field": "split",
                        "fields_field": "fields",
                        "format": "jsonl",
                    },
                )
            finally:
                staged.unlink(missing_ok=True)
            _restore_labels(project, archive)
            _restore_lfs(project, user, json.loads(archive.read("lfs.json")))
    return project


def _restore_labels(project: Project, archive: zipfile.ZipFile) -> None:
    labels = project.labels
    ids = dict(Sample.objects.filter(project=project).values_list("external_id", "pk"))
    users = {}
    records = [
        json.loads(line) for line in archive.read("annotations.jsonl").decode("utf-8").splitlines() if line
    ]
    wanted = {r["annotator"] for r in records if r["annotator"]}
    users = {u.username: u for u in get_user_model().objects.filter(username__in=wanted)}
    made, imported = [], set()
    for r in records:
        sample = ids.get(r["external_id"])
        label = labels.index(r["label"]) if r["label"] is not None else None
        annotator = users.get(r["annotator"]) if r["annotator"] else None
        if annotator is None:
            if sample in imported or label is None:
                continue  # one label without an annotator per sample; the gold label below is what counts
            imported.add(sample)
            made.append(
                Annotation(project=project, sample_id=sample, source=Annotation.Source.IMPORT, label=label)
            )
        else:
            made.append(
                Annotation(
                    project=project,
                    sample_id=sample,
                    annotator=annotator,
                    source=r["source"],
                    label=label,
                    reason=r.get("reason") or "",
                )
            )
    Annotation.objects.bulk_create(made, batch_size=CHUNK)
    # The archive's gold labels are authoritative (they may come from people without an account here).
    gold: dict[str, int | None] = {}
    with archive.open("samples.jsonl") as source:
        for line in io.TextIOWrapper(source, encoding="utf-8"):
            record = json.loads(line)
            if record["gold_label"] is not None:
                gold[record["external_id"]] = labels.index(record["gold_label"])
    for label in range(len(labels)):
        chosen = [ids[e] for e, g in gold.items() if g == label]
        for begin in range(0, len(chosen), CHUNK):
            Sample.objects.filter(pk__in=chosen[begin : begin + CHUNK]).update(gold_label=label)
    for sample in Sample.objects.filter(project=project, annotations__isnull=False).distinct():
        # Queue state (hand label counts, disputed) follows the restored labels; gold stays as archived.
        archived = sample.gold_label
        project_services._refresh_gold(sample)
        if sample.gold_label != archived:
            Sample.objects.filter(pk=sample.pk).update(gold_label=archived)


def _restore_lfs(project: Project, user, lfs: list[dict]) -> None:
    for item in lfs:
        versions = sorted(item["versions"], key=lambda v: v["number"])
        if not versions:
            continue
        first, *later = versions
        lf = labeling_services.create_lf(
            project=project,
            user=user,
            name=item["name"],
            kind=first["kind"],
            label=first["label"] if first["label"] is not None else -1,
            config=first["config"],
            active=item.get("active", True),
        )
        for v in later:
            labeling_services.update_lf(
                lf=lf,
                user=user,
                kind=v["kind"],
                label=v["label"] if v["label"] is not None else -1,
                config=v["config"],
            )
