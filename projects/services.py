"""Every change to projects, members, samples and hand labels goes through a function here."""

from __future__ import annotations

import logging
from collections import Counter

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from . import importer
from .models import Annotation, ImportJob, JobStatus, Membership, Project, Role, Sample
from .signals import gold_changed, samples_imported

log = logging.getLogger(__name__)

MAX_CLASSES = 20


class ServiceError(Exception):
    """A request that cannot be carried out; the message says why and names the field when there is one."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


def clean_labels(labels) -> list[str]:
    if isinstance(labels, str):
        labels = [part for chunk in labels.splitlines() for part in chunk.split(",")]
    if not isinstance(labels, list | tuple):
        raise ServiceError("labels must be a list of class names", "labels")
    names = [str(label).strip() for label in labels if str(label).strip()]
    if len(names) < 2:
        raise ServiceError("a project needs at least two classes", "labels")
    if len(names) > MAX_CLASSES:
        raise ServiceError(f"a project can have at most {MAX_CLASSES} classes", "labels")
    dupes = [name for name, n in Counter(n.lower() for n in names).items() if n > 1]
    if dupes:
        raise ServiceError(f"class names must be different (repeated: {', '.join(dupes)})", "labels")
    too_long = [n for n in names if len(n) > 100]
    if too_long:
        raise ServiceError("a class name can have at most 100 characters", "labels")
    return names


@transaction.atomic
def create_project(*, user, name: str, labels, description: str = "", instructions: str = "") -> Project:
    name = (name or "").strip()
    if not name:
        raise ServiceError("the project needs a name", "name")
    if len(name) > 200:
        raise ServiceError("a project name can have at most 200 characters", "name")
    project = Project.objects.create(
        name=name,
        description=description or "",
        instructions=instructions or "",
        labels=clean_labels(labels),
        created_by=user,
    )
    Membership.objects.create(project=project, user=user, role=Role.ADMIN)
    return project


@transaction.atomic
def update_project(
    *, project: Project, name=None, description=None, instructions=None, labels=None
) -> Project:
    if name is not None:
        if not name.strip():
            raise ServiceError("the project needs a name", "name")
        project.name = name.strip()
    if description is not None:
        project.description = description
    if instructions is not None:
        project.instructions = instructions
    if labels is not None:
        new = clean_labels(labels)
        old = project.labels
        # Votes and hand labels store class indexes: existing classes keep their place, new ones append.
        if new[: len(old)] != old:
            raise ServiceError(
                "existing classes cannot be removed, renamed or reordered; add new classes at the end",
                "labels",
            )
        project.labels = new
    project.save()
    return project


@transaction.atomic
def add_member(*, project: Project, user, role: str) -> Membership:
    if role not in Role.values:
        raise ServiceError(f"unknown role {role!r}; choose one of {', '.join(Role.values)}", "role")
    membership, _ = Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
    return membership


def _keep_an_admin(project: Project, user) -> None:
    """A project always keeps at least one admin, or nobody could manage its members again."""
    others = Membership.objects.filter(project=project, role=Role.ADMIN).exclude(user=user)
    if not others.select_for_update().exists():
        raise ServiceError("the project needs at least one admin; make someone else admin first", "role")


@transaction.atomic
def change_role(*, project: Project, user, role: str) -> Membership:
    if role not in Role.values:
        raise ServiceError(f"unknown role {role!r}; choose one of {', '.join(Role.values)}", "role")
    membership = Membership.objects.select_for_update().filter(project=project, user=user).first()
    if membership is None:
        raise ServiceError(f"{user} is not a member of this project", "user")
    if membership.role == Role.ADMIN and role != Role.ADMIN:
        _keep_an_admin(project, user)
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def remove_member(*, project: Project, user) -> None:
    """Take the user out of the project; their hand labels stay (they are the project's data)."""
    membership = Membership.objects.select_for_update().filter(project=project, user=user).first()
    if membership is None:
        raise ServiceError(f"{user} is not a member of this project", "user")
    if membership.role == Role.ADMIN:
        _keep_an_admin(project, user)
    membership.delete()


# --- imports -------------------------------------------------------------------------------------------------


def validate_import_options(project: Project, options: dict) -> dict:
    text_field = (options.get("text_field") or "").strip()
    if not text_field:
        raise ServiceError("choose the field that holds the text", "text_field")
    label_map = options.get("label_map") or {}
    if not isinstance(label_map, dict):
        raise ServiceError("label_map must be an object of value → class name", "label_map")
    unknown = sorted({str(v) for v in label_map.values()} - set(project.labels))
    if unknown:
        raise ServiceError(
            f"label_map names classes the project does not have: {', '.join(unknown)} "
            f"(the project's classes: {', '.join(project.labels)})",
            "label_map",
        )
    if (options.get("label_field") or "").strip() == text_field:
        raise ServiceError("the label field cannot be the text field", "label_field")
    fmt = options.get("format") or None
    if fmt and fmt not in importer.FORMATS:
        raise ServiceError(f"unknown format {fmt!r}; choose one of {', '.join(importer.FORMATS)}", "format")
    return {
        "text_field": text_field,
        "id_field": (options.get("id_field") or "").strip() or None,
        "label_field": (options.get("label_field") or "").strip() or None,
        "split_field": (options.get("split_field") or "").strip() or None,
        "label_map": {str(k): str(v) for k, v in label_map.items()},
        "format": fmt,
        "seed": project.seed,
    }


@transaction.atomic
def start_import(*, project: Project, user, upload: UploadedFile, options: dict) -> ImportJob:
    """Store the upload and queue its import; the worker does the parsing."""
    from django.conf import settings

    if upload is None:
        raise ServiceError("choose a file to upload", "file")
    if upload.size > settings.CHORUS_MAX_UPLOAD_BYTES:
        raise ServiceError(
            f"the file is {upload.size:,} bytes, more than the limit of {settings.CHORUS_MAX_UPLOAD_BYTES:,}",
            "file",
        )
    if upload.size == 0:
        raise ServiceError("the file is empty", "file")
    clean = validate_import_options(project, options)
    try:
        importer.guess_format(upload.name, clean["format"])
    except importer.ImportFailed as exc:
        raise ServiceError(exc.problems[0].message, "file") from None
    job = ImportJob.objects.create(
        project=project, created_by=user, filename=upload.name[:255], options=clean
    )
    job.file.save(upload.name, upload, save=True)
    from .tasks import run_import

    transaction.on_commit(lambda: run_import.delay(job.pk))
    return job


def run_import(job_id: int) -> None:
    """Carry out a queued import (called by the worker); a second delivery of the same job does nothing."""
    claimed = ImportJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=timezone.now()
    )
    if claimed != 1:
        return
    job = ImportJob.objects.select_related("project").get(pk=job_id)
    options = importer.ImportOptions.from_dict(job.options)

    def progress(done: int) -> None:
        ImportJob.objects.filter(pk=job.pk).update(processed=done)

    try:
        with job.file.open("rb") as stream:
            rows = importer.parse(stream, job.filename, options, job.project, on_progress=progress)
        ImportJob.objects.filter(pk=job.pk).update(processed=len(rows), total=len(rows))
        result = importer.write(job.project, rows, options)
    except importer.ImportFailed as exc:
        ImportJob.objects.filter(pk=job.pk).update(
            status=JobStatus.FAILED, errors=[p.as_dict() for p in exc.problems], finished_at=timezone.now()
        )
        return
    except Exception:
        log.exception("import %s failed", job.pk)
        ImportJob.objects.filter(pk=job.pk).update(
            status=JobStatus.FAILED,
            errors=[{"message": "the import failed because of an internal error; nothing was imported"}],
            finished_at=timezone.now(),
        )
        return
    ImportJob.objects.filter(pk=job.pk).update(
        status=JobStatus.DONE,
        imported=result.imported,
        labels_imported=result.labels_imported,
        finished_at=timezone.now(),
    )
    samples_imported.send(
        sender=Project, project=job.project, first_row=result.first_row, count=result.imported
    )


def import_file(*, project: Project, path: str, options: dict) -> importer.ImportResult:
    """Import a file synchronously (the CLI); all or nothing, like the worker's import."""
    clean = validate_import_options(project, options)
    opts = importer.ImportOptions.from_dict(clean)
    with open(path, "rb") as stream:
        rows = importer.parse(stream, path, opts, project)
    result = importer.write(project, rows, opts)
    samples_imported.send(sender=Project, project=project, first_row=result.first_row, count=result.imported)
    return result


# --- hand labels ---------------------------------------------------------------------------------------------


def agreed_label(labels: list[int | None]) -> int | None:
    """A sample's gold label: the one label all its (non-skip) hand labels agree on, else None."""
    given = {label for label in labels if label is not None}
    return given.pop() if len(given) == 1 else None


def _refresh_gold(sample: Sample) -> bool:
    labels = list(sample.annotations.values_list("label", flat=True))
    gold = agreed_label(labels)
    if gold != sample.gold_label:
        Sample.objects.filter(pk=sample.pk).update(gold_label=gold)
        sample.gold_label = gold
        return True
    return False


@transaction.atomic
def annotate(*, project: Project, sample: Sample, user, label: int | None) -> Annotation:
    """Record (or change) the user's hand label on a sample; label None records a skip."""
    if sample.project_id != project.pk:
        raise ServiceError("that sample is not in this project", "sample")
    if label is not None and not (0 <= label < project.cardinality):
        raise ServiceError(f"label must be one of {', '.join(project.labels)}", "label")
    annotation, _ = Annotation.objects.update_or_create(
        sample=sample,
        annotator=user,
        defaults={"project": project, "label": label, "source": Annotation.Source.HUMAN},
    )
    if _refresh_gold(sample):
        transaction.on_commit(
            lambda: gold_changed.send(sender=Project, project=project, sample_ids=[sample.pk])
        )
    return annotation


@transaction.atomic
def remove_annotation(*, project: Project, sample: Sample, user) -> bool:
    deleted, _ = Annotation.objects.filter(project=project, sample=sample, annotator=user).delete()
    if deleted and _refresh_gold(sample):
        transaction.on_commit(
            lambda: gold_changed.send(sender=Project, project=project, sample_ids=[sample.pk])
        )
    return bool(deleted)
