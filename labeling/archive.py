"""A whole project in one zip file, and back: samples, label schema and settings, hand labels, reviewers'
adjudications, comments, gold checks, LFs with every version (kind, config, source), and the latest finished run
with its probabilities.

Restoring an archive into another Chorus makes a new project whose refit (same seed, same samples in the same
rows, same gold labels, same LF definitions) gives the same LF statistics and probabilities. Hand labels by
people who have no account there keep their label as the sample's gold label, without an annotator; their
adjudications and comments keep their text and label with no author. An external-service LF whose host this
server does not allow (CHORUS_SERVICE_HOSTS) is restored inactive and not applied, and the restore's notices
name it and its host. A broken archive is refused with what is wrong and where (the file inside the archive,
and its line), and nothing is made.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.utils import timezone

from projects import services as project_services
from projects.formats import ImportFailed, ImportProblem
from projects.models import Adjudication, Annotation, Comment, Project, Sample
from projects.services import ServiceError

from . import export
from . import services as labeling_services
from .models import LabelingFunction, LabelModelRun, LFVersion

FORMAT_VERSION = 1
MANIFEST = "chorus-archive.json"
SETTINGS = (
    "description",
    "instructions",
    "label_model",
    "code_modules",
    "seed",
    "overlap",
    "blind",
    "check_every",
    "annotators_as_sources",
)
SETTINGS_LISTS = ("skip_reasons",)
CHUNK = 5000
NAME_LENGTH = Project._meta.get_field("name").max_length


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
            .values("row", "external_id", "text", "fields", "split", "gold_label", "check_label")[:CHUNK]
        )
        if not chunk:
            return
        last = chunk[-1]["row"]
        for s in chunk:
            gold = s.pop("gold_label")
            s["gold_label"] = labels[gold] if gold is not None else None
            check = s.pop("check_label")
            if check is not None:
                s["check_label"] = labels[check]  # a gold check, and its known answer
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
                "config": _portable_config(v, labels),
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
        adjudications = (
            Adjudication.objects.filter(project=project)
            .order_by("sample__row")
            .values_list("sample__external_id", "reviewer__username", "label", "created_at")
        )
        archive.writestr(
            "adjudications.jsonl",
            _jsonl(
                {
                    "external_id": external_id,
                    "reviewer": username,
                    "label": labels[label],
                    "created_at": created.isoformat(),
                }
                for external_id, username, label, created in adjudications.iterator()
            ),
        )
        comments = (
            Comment.objects.filter(project=project)
            .order_by("created_at", "id")
            .values_list("sample__external_id", "author__username", "text", "created_at")
        )
        archive.writestr(
            "comments.jsonl",
            _jsonl(
                {
                    "external_id": external_id,
                    "author": username,
                    "text": text,
                    "created_at": created.isoformat(),
                }
                for external_id, username, text, created in comments.iterator()
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


def read_manifest(source) -> dict:
    """The archive's manifest (source: a path or an open file); ServiceError when it is not a Chorus archive
    this Chorus reads."""
    try:
        with zipfile.ZipFile(source) as archive:
            raw = archive.read(MANIFEST)
    except zipfile.BadZipFile:
        raise ServiceError("the file is not a Chorus archive (not a zip file)", "file") from None
    except KeyError:
        raise ServiceError(f"the zip file has no {MANIFEST}: it is not a Chorus archive", "file") from None
    try:
        manifest = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ServiceError(f"{MANIFEST} is not valid JSON ({exc})", "file") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise ServiceError(f"archive format {found!r} is not one this Chorus reads", "file")
    if not isinstance(manifest.get("project"), dict) or not manifest["project"].get("labels"):
        raise ServiceError(f"{MANIFEST} does not describe a project with classes", "file")
    return manifest


def _broken(member: str, line: int | None, message: str):
    where = f"{member} line {line}" if line else member
    raise ImportFailed([ImportProblem(f"{where}: {message}", line=line, field=member)])


def _records(archive: zipfile.ZipFile, member: str, optional: bool = False):
    """(line, object) of a JSONL file of the archive; older archives may lack the optional ones."""
    try:
        data = archive.read(member)
    except KeyError:
        if optional:
            return
        _broken(member, None, "missing from the archive")
    for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            _broken(member, number, f"invalid JSON ({exc.msg})")
        if not isinstance(record, dict):
            _broken(member, number, "expected a JSON object")
        yield number, record


class _Lookup:
    """External ids, class names and usernames of the archive, resolved in the new project."""

    def __init__(self, project: Project):
        self.labels = project.labels
        self.ids = dict(Sample.objects.filter(project=project).values_list("external_id", "pk"))
        self.users: dict[str, object] = {}

    def sample(self, member: str, line: int, record: dict) -> int:
        pk = self.ids.get(record.get("external_id"))
        if pk is None:
            _broken(member, line, f"the sample {record.get('external_id')!r} is not in samples.jsonl")
        return pk

    def label(self, member: str, line: int, name, optional: bool = True) -> int | None:
        if name is None and optional:
            return None
        if name not in self.labels:
            _broken(
                member,
                line,
                f"the label {name!r} is not one of the archive's classes ({', '.join(self.labels)})",
            )
        return self.labels.index(name)

    def load_users(self, names) -> None:
        wanted = {n for n in names if n} - set(self.users)
        self.users.update({u.username: u for u in get_user_model().objects.filter(username__in=wanted)})


@dataclass(frozen=True)
class Restored:
    project: Project
    # What the person should know about the new project: each {"message", "lf", "host"} of an LF restored
    # inactive because its service's host is not allowed here.
    notices: list[dict] = field(default_factory=list)


def restored_name(name: str, today: date | None = None) -> str:
    """The default name of a restored copy: the original's, marked, so the project list never shows two
    projects of the same name (the original usually still exists)."""
    mark = f" (restored {(today or timezone.localdate()).isoformat()})"
    return name[: NAME_LENGTH - len(mark)] + mark


def restore(*, user, path: Path, name: str | None = None, on_progress=None) -> Restored:
    """A new project from an archive, with `user` as its admin; its LFs are applied and refit by the worker.

    on_progress(stage, done, total) is called as the restore goes (from inside its transaction: it must write
    on a connection of its own). Raises ServiceError or ImportFailed naming what is wrong; nothing is made then.
    """
    manifest = read_manifest(path)
    report = on_progress or (lambda stage, done, total: None)
    total = manifest.get("samples") if isinstance(manifest.get("samples"), int) else None
    with zipfile.ZipFile(path) as archive:
        meta = manifest["project"]
        if "samples.jsonl" not in archive.namelist():
            _broken("samples.jsonl", None, "missing from the archive")
        with transaction.atomic():
            project = project_services.create_project(
                user=user,
                name=name or restored_name(meta.get("name") or Path(path).stem),
                labels=meta["labels"],
            )
            for key in SETTINGS + SETTINGS_LISTS + ("queue_order",):
                if key in meta:
                    setattr(project, key, meta[key])
            project.save()
            report("samples", 0, total)
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
                    on_check=lambda rows, fraction: report("checking samples", rows, total),
                    on_write=lambda rows: report("samples", rows, total),
                )
            except ImportFailed as exc:
                raise ImportFailed(
                    [
                        ImportProblem(f"samples.jsonl: {p.message}", line=p.line, field=p.field)
                        for p in exc.problems
                    ]
                ) from None
            finally:
                staged.unlink(missing_ok=True)
            lookup = _Lookup(project)
            report("hand labels", 0, None)
            _restore_labels(project, archive, lookup)
            report("adjudications and comments", 0, None)
            _restore_reviews(project, archive, lookup)
            report("labeling functions", 0, None)
            try:
                lfs = json.loads(archive.read("lfs.json"))
            except KeyError:
                lfs = []
            except json.JSONDecodeError as exc:
                _broken("lfs.json", exc.lineno, f"invalid JSON ({exc.msg})")
            notices = _restore_lfs(project, user, lfs)
    return Restored(project, notices)


def _restore_labels(project: Project, archive: zipfile.ZipFile, lookup: _Lookup) -> None:
    member = "annotations.jsonl"
    records = list(_records(archive, member))
    lookup.load_users(r.get("annotator") for _, r in records)
    made, imported = [], set()
    for line, r in records:
        sample = lookup.sample(member, line, r)
        label = lookup.label(member, line, r.get("label"))
        annotator = lookup.users.get(r.get("annotator")) if r.get("annotator") else None
        if annotator is None:
            if sample in imported or label is None:
                continue  # one label without an annotator per sample; the gold label below is what counts
            imported.add(sample)
            made.append(
                Annotation(project=project, sample_id=sample, source=Annotation.Source.IMPORT, label=label)
            )
        else:
            source = r.get("source") or Annotation.Source.HUMAN
            if source not in Annotation.Source.values:
                _broken(
                    member, line, f"the source {source!r} is not one of {', '.join(Annotation.Source.values)}"
                )
            made.append(
                Annotation(
                    project=project,
                    sample_id=sample,
                    annotator=annotator,
                    source=source,
                    label=label,
                    reason=(r.get("reason") or "")[:200],
                )
            )
    Annotation.objects.bulk_create(made, batch_size=CHUNK)
    # The archive's gold labels are authoritative (they may come from people without an account here).
    gold: dict[int, int] = {}
    for line, record in _records(archive, "samples.jsonl"):
        if record.get("gold_label") is not None:
            gold[lookup.sample("samples.jsonl", line, record)] = lookup.label(
                "samples.jsonl", line, record["gold_label"]
            )
    for label in range(len(lookup.labels)):
        chosen = [pk for pk, g in gold.items() if g == label]
        for begin in range(0, len(chosen), CHUNK):
            Sample.objects.filter(pk__in=chosen[begin : begin + CHUNK]).update(gold_label=label)
    # Gold checks (archives from before they were kept have none): the sample and its known answer.
    checks: dict[int, int] = {}
    for line, record in _records(archive, "samples.jsonl"):
        if record.get("check_label") is not None:
            checks[lookup.sample("samples.jsonl", line, record)] = lookup.label(
                "samples.jsonl", line, record["check_label"], optional=False
            )
    for label in range(len(lookup.labels)):
        chosen = [pk for pk, c in checks.items() if c == label]
        for begin in range(0, len(chosen), CHUNK):
            Sample.objects.filter(pk__in=chosen[begin : begin + CHUNK]).update(check_label=label)


def _restore_reviews(project: Project, archive: zipfile.ZipFile, lookup: _Lookup) -> None:
    """Adjudications (a reviewer's decision, which is the sample's gold label) and comments, then the queue
    state of every sample with hand labels or an adjudication."""
    adjudications = list(_records(archive, "adjudications.jsonl", optional=True))
    comments = list(_records(archive, "comments.jsonl", optional=True))
    lookup.load_users([r.get("reviewer") for _, r in adjudications] + [r.get("author") for _, r in comments])
    decided = {}
    for line, r in adjudications:
        sample = lookup.sample("adjudications.jsonl", line, r)
        decided[sample] = Adjudication(
            project=project,
            sample_id=sample,
            reviewer=lookup.users.get(r.get("reviewer")),
            label=lookup.label("adjudications.jsonl", line, r.get("label"), optional=False),
        )
    Adjudication.objects.bulk_create(decided.values(), batch_size=CHUNK)
    made = []
    for line, r in comments:
        if not isinstance(r.get("text"), str) or not r["text"].strip():
            _broken("comments.jsonl", line, "the comment has no text")
        made.append(
            Comment(
                project=project,
                sample_id=lookup.sample("comments.jsonl", line, r),
                author=lookup.users.get(r.get("author")),
                text=r["text"],
            )
        )
    Comment.objects.bulk_create(made, batch_size=CHUNK)
    touched = Sample.objects.filter(project=project).filter(
        models.Q(annotations__isnull=False) | models.Q(adjudication__isnull=False)
    )
    for sample in touched.distinct():
        # Queue state (hand label counts, disputed) follows the restored labels; gold stays as archived.
        archived = sample.gold_label
        project_services._refresh_gold(sample)
        if sample.gold_label != archived:
            Sample.objects.filter(pk=sample.pk).update(gold_label=archived)


def _portable_config(version, labels: list[str]) -> dict:
    """A version's config as another Chorus can use it: uploaded predictions travel as their records, not as
    the name of a file on this server (a restore stores them again for the new project)."""
    config = dict(version.config or {})
    if version.kind != "predictions" or "file" not in config:
        return config
    from . import kinds

    preds = kinds.load_predictions(config)
    ids = preds.ids.to_pylist()
    scores = preds.scores
    records = []
    for i, (sample_id, label) in enumerate(zip(ids, preds.labels.tolist(), strict=True)):
        record = {"id": sample_id, "label": labels[label] if 0 <= label < len(labels) else label}
        if scores is not None and scores[i] == scores[i]:  # NaN: no score given
            record["score"] = float(scores[i])
        records.append(record)
    portable = {"predictions": records}
    if config.get("min_score") is not None:
        portable["min_score"] = config["min_score"]
    return portable


def _restore_lfs(project: Project, user, lfs: list[dict]) -> list[dict]:
    """Every LF with every version; the notices of those restored inactive (see Restored)."""
    notices = []
    for item in lfs:
        versions = sorted(item["versions"], key=lambda v: v["number"])
        if not versions:
            continue
        first, *later = versions
        active = item.get("active", True)
        # restoring: a service on a host this server does not allow is kept, not applied, its LF inactive.
        lf = labeling_services.create_lf(
            project=project,
            user=user,
            name=item["name"],
            kind=first["kind"],
            label=first["label"] if first["label"] is not None else -1,
            config=first["config"],
            active=active,
            restoring=True,
        )
        for v in later:
            lf = labeling_services.update_lf(
                lf=lf,
                user=user,
                kind=v["kind"],
                label=v["label"] if v["label"] is not None else -1,
                config=v["config"],
                restoring=True,
            )
        current = LFVersion.objects.get(pk=lf.current_id)
        held = labeling_services.unapplicable(current.kind, current.config)
        if held:
            host = urlsplit(current.config["url"]).hostname
            notices.append(
                {
                    "message": f"the labeling function {lf.name!r} was restored inactive and not applied: "
                    f"{held}. Allow the host and activate it, or edit its URL",
                    "lf": lf.name,
                    "host": host,
                }
            )
        elif active and not lf.active:
            # An earlier version could not be applied here, the current one can: active, as archived.
            labeling_services.update_lf(lf=lf, user=user, active=True)
    return notices
