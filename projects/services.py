"""Every change to projects, members, samples and hand labels goes through a function here."""

from __future__ import annotations

import logging
import os
from collections import Counter

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from . import audit, importer
from .models import (
    Adjudication,
    Annotation,
    AnnotatorExclusion,
    Comment,
    ImportJob,
    JobStatus,
    Membership,
    Project,
    QueueOrder,
    Role,
    Sample,
)
from .signals import classes_added, gold_changed, samples_changed, samples_imported

log = logging.getLogger(__name__)

MAX_CLASSES = 20
MAX_CLASS_NAME = 100


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
    too_long = [n for n in names if len(n) > MAX_CLASS_NAME]
    if too_long:
        raise ServiceError(f"a class name can have at most {MAX_CLASS_NAME} characters", "labels")
    # The schema form lists classes one per line or comma-separated, so neither may appear inside a name.
    split = [n for n in names if "," in n or "\n" in n or "\r" in n]
    if split:
        raise ServiceError(f"a class name cannot contain a comma or a line break ({split[0]!r})", "labels")
    # ABSTAIN is what a labeling function returns to cast no vote; a class of that name would be ambiguous.
    if any(n.upper() == "ABSTAIN" for n in names):
        raise ServiceError(
            "ABSTAIN is reserved for a labeling function's 'no vote'; name the class otherwise", "labels"
        )
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
    audit.record(project, user, "project.created", project, labels=project.labels)
    return project


@transaction.atomic
def update_project(
    *, project: Project, name=None, description=None, instructions=None, labels=None, user=None
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
                "existing classes cannot be removed, renamed or reordered here; add new classes at the end "
                "(rename one class on its own: PATCH /api/projects/<id>/classes/<index>/)",
                "labels",
            )
        project.labels = new
        added = new[len(old) :]
        if added:
            transaction.on_commit(lambda: classes_added.send(sender=Project, project=project, added=added))
    audit.record_changes(project, user, ("name", "description", "instructions", "labels"))
    project.save()
    return project


@transaction.atomic
def add_member(*, project: Project, user, role: str, by=None) -> Membership:
    if role not in Role.values:
        raise ServiceError(f"unknown role {role!r}; choose one of {', '.join(Role.values)}", "role")
    membership, _ = Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
    audit.record(project, by, "member.added", membership, target_label=user.username, role=role)
    return membership


def _keep_an_admin(project: Project, user) -> None:
    """A project always keeps at least one admin, or nobody could manage its members again."""
    others = Membership.objects.filter(project=project, role=Role.ADMIN).exclude(user=user)
    if not others.select_for_update().exists():
        raise ServiceError("the project needs at least one admin; make someone else admin first", "role")


@transaction.atomic
def change_role(*, project: Project, user, role: str, by=None) -> Membership:
    if role not in Role.values:
        raise ServiceError(f"unknown role {role!r}; choose one of {', '.join(Role.values)}", "role")
    membership = Membership.objects.select_for_update().filter(project=project, user=user).first()
    if membership is None:
        raise ServiceError(f"{user} is not a member of this project", "user")
    if membership.role == Role.ADMIN and role != Role.ADMIN:
        _keep_an_admin(project, user)
    audit.record(
        project,
        by,
        "member.role_changed",
        membership,
        target_label=user.username,
        old=membership.role,
        new=role,
    )
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def remove_member(*, project: Project, user, by=None) -> None:
    """Take the user out of the project; their hand labels stay (they are the project's data)."""
    membership = Membership.objects.select_for_update().filter(project=project, user=user).first()
    if membership is None:
        raise ServiceError(f"{user} is not a member of this project", "user")
    if membership.role == Role.ADMIN:
        _keep_an_admin(project, user)
    audit.record(project, by, "member.removed", membership, target_label=user.username, role=membership.role)
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
    on_duplicate = (options.get("on_duplicate") or "fail").strip().lower()
    if on_duplicate not in importer.ON_DUPLICATE:
        raise ServiceError(
            f"unknown on_duplicate {on_duplicate!r}; choose one of {', '.join(importer.ON_DUPLICATE)}",
            "on_duplicate",
        )
    # Duplicates are found by id; without one every row is a new sample, so skip or update would do nothing.
    if on_duplicate != "fail" and not (options.get("id_field") or "").strip():
        raise ServiceError(
            f"on_duplicate={on_duplicate} needs an id field: samples already in the project are found by "
            "their id, and without one every row is a new sample; choose the id field, or leave on_duplicate "
            "as fail (a file imported before is then asked about)",
            "on_duplicate",
        )
    metadata = options.get("metadata_fields")
    if isinstance(metadata, str):
        metadata = [part.strip() for part in metadata.split(",") if part.strip()] or None
    if metadata is not None and not (
        isinstance(metadata, list | tuple) and all(isinstance(m, str) for m in metadata)
    ):
        raise ServiceError("metadata_fields must be a list of field names", "metadata_fields")
    checks = {
        "format": lambda: importer.formats.check_format(options.get("format")),
        "encoding": lambda: importer.formats.check_encoding(options.get("encoding")),
        "delimiter": lambda: importer.formats.check_delimiter(options.get("delimiter")),
    }
    clean = {}
    for name, checked in checks.items():
        try:
            clean[name] = checked()
        except importer.ImportFailed as exc:
            raise ServiceError(exc.problems[0].message, name) from None
    return {
        "text_field": text_field,
        "id_field": (options.get("id_field") or "").strip() or None,
        "label_field": (options.get("label_field") or "").strip() or None,
        "split_field": (options.get("split_field") or "").strip() or None,
        "label_map": {str(k): str(v) for k, v in label_map.items()},
        **clean,
        "on_duplicate": on_duplicate,
        "metadata_fields": list(metadata) if metadata is not None else None,
        "fields_field": (options.get("fields_field") or "").strip() or None,
        "seed": project.seed,
    }


class AlreadyImported(ServiceError):
    """The file's content (its plain bytes, through gzip or zip) was imported into the project before, and
    without an id field its rows would become new samples a second time: refused unless asked for."""

    def __init__(self, filename: str, earlier: ImportJob):
        self.earlier = earlier
        if earlier.status == JobStatus.DONE:
            when = timezone.localtime(earlier.finished_at or earlier.created_at).strftime("%Y-%m-%d %H:%M")
            n = earlier.imported + earlier.updated + earlier.skipped
            what = f"was imported on {when} as import #{earlier.pk} ({n:,} sample{'' if n == 1 else 's'})"
        else:
            what = f"is being imported now as import #{earlier.pk}"
        if earlier.filename == filename:
            message = f"{filename} {what}"
        else:
            message = f"{filename} holds the same rows as {earlier.filename}, which {what}"
        super().__init__(message, "file")


def earlier_import(project: Project, digest: str) -> ImportJob | None:
    """The newest import of this content into the project that was not refused (done, queued or running)."""
    if not digest:
        return None
    return (
        ImportJob.objects.filter(project=project, content_sha256=digest)
        .exclude(status=JobStatus.FAILED)
        .order_by("-created_at", "-pk")
        .first()
    )


@transaction.atomic
def start_import(
    *, project: Project, user, upload: UploadedFile, options: dict, import_again: bool = False
) -> ImportJob:
    """Store the upload and queue its import; the worker does the parsing.

    The upload arrives streamed to a temporary file (Django's TemporaryFileUploadHandler above
    FILE_UPLOAD_MAX_MEMORY_SIZE) and is copied to storage chunk by chunk: the web process never holds it.

    Without an id field, a file whose content was imported into the project before raises AlreadyImported
    (nothing is stored or queued) unless import_again says to import its rows again as new samples. With an
    id field the ids already tell a row that is there (on_duplicate).
    """
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
    job.file.save(upload.name, upload, save=False)
    try:
        job.content_sha256 = importer.formats.content_sha256(job.file.path, job.filename)
    except importer.ImportFailed:
        pass  # a file that cannot even be unpacked fails in the worker, with its reason on the job page
    earlier = None if clean["id_field"] or import_again else earlier_import(project, job.content_sha256)
    if earlier is not None:
        job.file.delete(save=False)  # the transaction takes the job's row back with it
        raise AlreadyImported(job.filename, earlier)
    job.save()
    audit.record(project, user, "import.started", job, target_label=job.filename)
    from .tasks import run_import

    transaction.on_commit(lambda: run_import.delay(job.pk))
    return job


class _SideConnection:
    """A second database connection for progress written while the import's transaction is open."""

    def __init__(self):
        self.conn = None

    def execute(self, sql: str, params: list) -> None:
        from django.db import connections

        if self.conn is None:
            self.conn = connections.create_connection("default")
        with self.conn.cursor() as cursor:
            cursor.execute(sql, params)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def run_import(job_id: int) -> None:
    """Carry out a queued import (called by the worker); a second delivery of the same job does nothing."""
    claimed = ImportJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=timezone.now()
    )
    if claimed != 1:
        return
    job = ImportJob.objects.select_related("project").get(pk=job_id)
    options = importer.ImportOptions.from_dict(job.options)
    side = _SideConnection()

    def checked(rows: int, fraction: float) -> None:
        # The total is estimated from the share of the file read so far, until the check has counted them all.
        estimate = max(rows, int(rows / fraction)) if fraction > 0 else None
        ImportJob.objects.filter(pk=job.pk).update(processed=rows, total=estimate)

    def written(rows: int) -> None:
        side.execute(f"UPDATE {ImportJob._meta.db_table} SET written = %s WHERE id = %s", [rows, job.pk])

    try:
        plan = importer.check(job.file.path, job.filename, options, job.project, on_progress=checked)
        ImportJob.objects.filter(pk=job.pk).update(processed=plan.rows, total=plan.rows)
        result = importer.write(job.project, job.file.path, job.filename, options, plan, on_progress=written)
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
    finally:
        side.close()
    ImportJob.objects.filter(pk=job.pk).update(
        status=JobStatus.DONE,
        imported=result.imported,
        labels_imported=result.labels_imported,
        skipped=result.skipped,
        updated=result.updated,
        written=plan.rows,
        finished_at=timezone.now(),
    )
    _imported(job.project, result)


def _imported(project: Project, result: importer.ImportResult) -> None:
    samples_imported.send(sender=Project, project=project, first_row=result.first_row, count=result.imported)
    if result.updated_ids:
        samples_changed.send(sender=Project, project=project, sample_ids=result.updated_ids)
        # An updated sample's imported label may have changed its gold label.
        gold_changed.send(sender=Project, project=project, sample_ids=result.updated_ids)


def import_file(
    *, project: Project, path: str, options: dict, on_check=None, on_write=None
) -> importer.ImportResult:
    """Import a file synchronously (the CLI, an archive's restore); all or nothing, like the worker's import.

    on_check and on_write report progress as importer.import_path describes (on_write inside the transaction)."""
    clean = validate_import_options(project, options)
    opts = importer.ImportOptions.from_dict(clean)
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    if os.path.isdir(path):
        raise IsADirectoryError(path)
    result = importer.import_path(project, path, path, opts, on_check=on_check, on_write=on_write)
    _imported(project, result)
    return result


# --- hand labels ---------------------------------------------------------------------------------------------


def agreed_label(labels: list[int | None], adjudicated: int | None = None) -> int | None:
    """A sample's gold label: a reviewer's adjudication if there is one, else the one label all its
    (non-skip) hand labels agree on, else None."""
    if adjudicated is not None:
        return adjudicated
    given = {label for label in labels if label is not None}
    return given.pop() if len(given) == 1 else None


def excluded_annotators(project_id: int) -> set[int]:
    """Ids of the annotators whose hand labels an admin excluded from counting."""
    return set(
        AnnotatorExclusion.objects.filter(project_id=project_id).values_list("annotator_id", flat=True)
    )


def _state(rows, adjudicated: int | None, check_label: int | None, overlap: int, excluded: set[int]) -> dict:
    """A sample's gold label and queue state from its (label, source, annotator id) rows.

    Excluded annotators' labels do not count. A check's known answer is its gold label, and a check is never
    in the overlap queue or disputed: the queue gives it to every annotator once (projects.queue).
    """
    rows = [(label, source) for label, source, who in rows if who is None or who not in excluded]
    known = check_label if check_label is not None else adjudicated
    hand = sum(1 for label, source in rows if label is not None and source == Annotation.Source.HUMAN)
    return {
        "gold_label": agreed_label([label for label, _ in rows], known),
        "hand_labels": hand,
        "queued": hand < overlap and known is None,
        "disputed": known is None and len({label for label, _ in rows if label is not None}) > 1,
    }


def _refresh_gold(sample: Sample) -> bool:
    """Bring the sample's gold label and queue state in step with its hand labels; True if gold changed.

    Queue state: how many annotators gave a label (skips, imported labels and excluded annotators' labels do
    not count), whether it still waits in annotators' queues (fewer than the project's overlap, not
    adjudicated, not a check), and whether its hand labels disagree with nobody having adjudicated (the
    review page lists those).
    """
    rows = list(sample.annotations.values_list("label", "source", "annotator_id"))
    adjudicated = Adjudication.objects.filter(sample=sample).values_list("label", flat=True).first()
    overlap = Project.objects.filter(pk=sample.project_id).values_list("overlap", flat=True).first() or 1
    excluded = excluded_annotators(sample.project_id) if any(who for _, _, who in rows) else set()
    state = _state(rows, adjudicated, sample.check_label, overlap, excluded)
    changed = state["gold_label"] != sample.gold_label
    if any(getattr(sample, name) != value for name, value in state.items()):
        Sample.objects.filter(pk=sample.pk).update(**state)
        for name, value in state.items():
            setattr(sample, name, value)
    return changed


# Samples re-read per query when many change at once (an exclusion, a batch of checks).
REFRESH_CHUNK = 2000


def refresh_samples(project: Project, sample_ids) -> list[int]:
    """_refresh_gold for many samples in a few queries per chunk; returns the ids whose gold label changed."""
    ids = sorted(set(sample_ids))
    excluded = excluded_annotators(project.pk)
    overlap = project.overlap or 1
    changed: list[int] = []
    fields = ("gold_label", "hand_labels", "queued", "disputed")
    for start in range(0, len(ids), REFRESH_CHUNK):
        chunk = ids[start : start + REFRESH_CHUNK]
        rows: dict[int, list] = {pk: [] for pk in chunk}
        for pk, label, source, who in Annotation.objects.filter(sample_id__in=chunk).values_list(
            "sample_id", "label", "source", "annotator_id"
        ):
            rows[pk].append((label, source, who))
        adjudicated = dict(Adjudication.objects.filter(sample_id__in=chunk).values_list("sample_id", "label"))
        updates = []
        for sample in Sample.objects.filter(pk__in=chunk).only("pk", "check_label", *fields):
            state = _state(rows[sample.pk], adjudicated.get(sample.pk), sample.check_label, overlap, excluded)
            if state["gold_label"] != sample.gold_label:
                changed.append(sample.pk)
            if any(getattr(sample, name) != value for name, value in state.items()):
                for name, value in state.items():
                    setattr(sample, name, value)
                updates.append(sample)
        Sample.objects.bulk_update(updates, fields, batch_size=500)
    return changed


def _gold_changed(project: Project, sample: Sample) -> None:
    transaction.on_commit(lambda: gold_changed.send(sender=Project, project=project, sample_ids=[sample.pk]))


def _release_claim(sample: Sample, user) -> None:
    """Labeling or skipping a sample ends the annotator's claim on it, so the queue can hand it on."""
    # Asked of the row, not of the object in hand: the caller's copy may predate the claim.
    if Sample.objects.filter(pk=sample.pk, claimed_by=user).update(claimed_by=None, claimed_until=None):
        sample.claimed_by, sample.claimed_until = None, None


class LabelConflict(ServiceError):
    """The label changed since the client last saw it (another tab or window, another script, another
    reviewer): refused, so a stale page never replaces a newer label unseen. `current` is the hand label or
    adjudication as it is stored now (None if it was removed)."""

    def __init__(self, current: Annotation | Adjudication | None):
        if current is None:
            what = "your label on this sample was removed after the version you had"
        else:
            if isinstance(current, Adjudication):
                given, person = f"adjudicated {current.project.label_name(current.label)}", current.reviewer
            elif current.label is None:
                given, person = "skipped", current.annotator
            else:
                given, person = f"labeled {current.project.label_name(current.label)}", current.annotator
            who = person.username if person else "someone"
            when = timezone.localtime(current.updated_at).strftime("%Y-%m-%d %H:%M:%S")
            what = f"this sample was {given} by {who} at {when}, after the version you had"
        super().__init__(what, "version")
        self.current = current


def label_version(label: Annotation | Adjudication | None) -> str:
    """What a client sends back to change a label (or an adjudication) only if it is still the one it saw: its
    last change (microseconds, so two changes never share one), or "" for none at all."""
    return label.updated_at.isoformat() if label is not None else ""


# `expected` of annotate() when the caller does not ask for the check (the API without a version).
UNCHECKED = object()


def expected_version(posted: str | None):
    """annotate()'s / adjudicate()'s `expected` for a form's posted `version` ("" for "I saw none"): a post
    without one (a form from before versions) is not checked."""
    return UNCHECKED if posted is None else posted


@transaction.atomic
def annotate(
    *,
    project: Project,
    sample: Sample,
    user,
    label: int | None,
    reason: str = "",
    expected: str | object = UNCHECKED,
) -> Annotation:
    """Record (or change) the user's hand label on a sample; label None records a skip (with a reason).

    `expected` is the label_version() the client last saw ("" for none): if the stored label is no longer
    that one, LabelConflict is raised and nothing changes. UNCHECKED writes whatever is stored.
    """
    if sample.project_id != project.pk:
        raise ServiceError("that sample is not in this project", "sample")
    if label is not None and not (0 <= label < project.cardinality):
        raise ServiceError(f"label must be one of {', '.join(project.labels)}", "label")
    reason = (reason or "").strip() if label is None else ""
    if len(reason) > 200:
        raise ServiceError("a skip reason can have at most 200 characters", "reason")
    # Locked, so a second request of the same annotator cannot change the row between the check and the write.
    # Only the label's row (of=self): locking the joined project row would queue every annotator behind it.
    current = (
        Annotation.objects.select_for_update(of=("self",))
        .select_related("annotator", "project")
        .filter(sample=sample, annotator=user)
        .first()
    )
    if expected is not UNCHECKED and label_version(current) != expected:
        raise LabelConflict(current)
    defaults = {"project": project, "label": label, "reason": reason, "source": Annotation.Source.HUMAN}
    if current is not None and (current.label, current.reason) != (label, reason):
        defaults["previous"] = {"label": current.label, "reason": current.reason}  # for one undo
    if current is None:
        try:
            with transaction.atomic():
                annotation = Annotation.objects.create(sample=sample, annotator=user, **defaults)
            created = True
        except IntegrityError:
            # Another request of this annotator created it since the read: that label is newer than what
            # this client saw.
            if expected is not UNCHECKED:
                raced = Annotation.objects.select_related("annotator", "project").get(
                    sample=sample, annotator=user
                )
                raise LabelConflict(raced) from None
            return annotate(project=project, sample=sample, user=user, label=label, reason=reason)
    else:
        annotation, created = current, False
        for name, value in defaults.items():
            setattr(annotation, name, value)
        annotation.save()
    audit.record(
        project,
        user,
        "label.created" if created else "label.changed",
        annotation,
        target_label=sample.external_id,
        label_name=project.label_name(label),
        skipped=label is None,
    )
    _release_claim(sample, user)
    if _refresh_gold(sample):
        _gold_changed(project, sample)
    return annotation


@transaction.atomic
def undo_annotation(*, project: Project, sample: Sample, user) -> Annotation | None:
    """The labeling page's undo: a changed label goes back to what it was; a new one is removed (None)."""
    annotation = (
        Annotation.objects.select_for_update().filter(project=project, sample=sample, annotator=user).first()
    )
    if annotation is None or annotation.previous is None:
        remove_annotation(project=project, sample=sample, user=user)
        return None
    annotation.label = annotation.previous.get("label")
    annotation.reason = annotation.previous.get("reason") or ""
    annotation.previous = None
    annotation.save(update_fields=["label", "reason", "previous", "updated_at"])
    audit.record(
        project,
        user,
        "label.changed",
        annotation,
        target_label=sample.external_id,
        label_name=project.label_name(annotation.label),
        skipped=annotation.label is None,
        undo=True,
    )
    if _refresh_gold(sample):
        _gold_changed(project, sample)
    return annotation


@transaction.atomic
def remove_annotation(*, project: Project, sample: Sample, user) -> bool:
    deleted, _ = Annotation.objects.filter(project=project, sample=sample, annotator=user).delete()
    if deleted:
        audit.record(project, user, "label.removed", sample, target_label=sample.external_id)
    if deleted and _refresh_gold(sample):
        _gold_changed(project, sample)
    return bool(deleted)


@transaction.atomic
def adjudicate(
    *, project: Project, sample: Sample, user, label: int, expected: str | object = UNCHECKED
) -> Adjudication:
    """A reviewer decides a sample's label: it becomes the gold label, whatever the hand labels say.

    `expected` is the label_version() of the adjudication the reviewer's page showed ("" for none): one made
    or changed since (by another reviewer, or in another tab) raises LabelConflict and nothing changes.
    """
    if sample.project_id != project.pk:
        raise ServiceError("that sample is not in this project", "sample")
    if not isinstance(label, int) or not (0 <= label < project.cardinality):
        raise ServiceError(f"label must be one of {', '.join(project.labels)}", "label")
    current = (
        Adjudication.objects.select_for_update(of=("self",))
        .select_related("reviewer", "project")
        .filter(sample=sample)
        .first()
    )
    if expected is not UNCHECKED and label_version(current) != expected:
        raise LabelConflict(current)
    if current is None:
        try:
            with transaction.atomic():
                adjudication = Adjudication.objects.create(
                    sample=sample, project=project, reviewer=user, label=label
                )
        except IntegrityError:
            # Another reviewer decided this sample since the read.
            if expected is not UNCHECKED:
                raise LabelConflict(
                    Adjudication.objects.select_related("reviewer", "project").get(sample=sample)
                ) from None
            return adjudicate(project=project, sample=sample, user=user, label=label)
    else:
        adjudication = current
        adjudication.reviewer, adjudication.label = user, label
        adjudication.save()
    audit.record(
        project,
        user,
        "label.adjudicated",
        sample,
        target_label=sample.external_id,
        label_name=project.label_name(label),
    )
    if _refresh_gold(sample):
        _gold_changed(project, sample)
    return adjudication


MAX_COMMENT = 5000


@transaction.atomic
def add_comment(*, project: Project, sample: Sample, user, text: str) -> Comment:
    if sample.project_id != project.pk:
        raise ServiceError("that sample is not in this project", "sample")
    text = (text or "").strip()
    if not text:
        raise ServiceError("write something first", "text")
    if len(text) > MAX_COMMENT:
        # Refused whole, never cut: the writer shortens it (the page keeps the text they sent).
        raise ServiceError(
            f"a comment can have at most {MAX_COMMENT:,} characters and this one has {len(text):,}; shorten it",
            "text",
        )
    return Comment.objects.create(project=project, sample=sample, author=user, text=text)


@transaction.atomic
def update_workflow(
    *,
    project: Project,
    overlap=None,
    queue_order=None,
    blind=None,
    skip_reasons=None,
    check_every=None,
    annotators_as_sources=None,
    user=None,
) -> Project:
    """Change how the project's annotation works; a new overlap re-queues or retires samples at once."""
    if check_every is not None:
        if not isinstance(check_every, int) or isinstance(check_every, bool) or not 0 <= check_every <= 1000:
            raise ServiceError(
                "check_every must be a whole number from 0 (no gold checks) to 1000", "check_every"
            )
        project.check_every = check_every
    if annotators_as_sources is not None:
        project.annotators_as_sources = bool(annotators_as_sources)
    if overlap is not None:
        if not isinstance(overlap, int) or isinstance(overlap, bool) or not 1 <= overlap <= 50:
            raise ServiceError("overlap must be a whole number from 1 to 50", "overlap")
    if queue_order is not None and queue_order not in QueueOrder.values:
        raise ServiceError(
            f"unknown queue order {queue_order!r}; choose one of {', '.join(QueueOrder.values)}",
            "queue_order",
        )
    if skip_reasons is not None:
        if isinstance(skip_reasons, str):
            skip_reasons = skip_reasons.splitlines()
        skip_reasons = [str(r).strip() for r in skip_reasons if str(r).strip()]
        if any(len(r) > 200 for r in skip_reasons):
            raise ServiceError("a skip reason can have at most 200 characters", "skip_reasons")
        project.skip_reasons = skip_reasons
    if queue_order is not None:
        project.queue_order = queue_order
    if blind is not None:
        project.blind = bool(blind)
    old_overlap = project.overlap
    if overlap is not None:
        project.overlap = overlap
    audit.record_changes(
        project,
        user,
        ("overlap", "queue_order", "blind", "skip_reasons", "check_every", "annotators_as_sources"),
    )
    project.save()
    if overlap is not None and overlap != old_overlap:
        # One statement over the project's samples; a settings change, not a per-request cost.
        waiting = Q(hand_labels__lt=overlap, adjudication__isnull=True, check_label__isnull=True)
        Sample.objects.filter(project=project).filter(waiting).update(queued=True)
        Sample.objects.filter(project=project).exclude(waiting).update(queued=False)
    return project


@transaction.atomic
def set_queue_order(*, project: Project, user, queue_order: str) -> Membership:
    """An annotator's own queue order ('' follows the project's)."""
    if queue_order and queue_order not in QueueOrder.values:
        raise ServiceError(
            f"unknown queue order {queue_order!r}; choose one of {', '.join(QueueOrder.values)}",
            "queue_order",
        )
    membership = Membership.objects.filter(project=project, user=user).first()
    if membership is None:
        raise ServiceError(f"{user} is not a member of this project", "user")
    membership.queue_order = queue_order
    membership.save(update_fields=["queue_order"])
    return membership
