"""Every change to labeling functions and label-model runs goes through a function here.

The flow (DESIGN.md): saving an LF makes an immutable version and, after commit, queues the application of
that version alone; when every active LF's votes are in, one refit builds the label matrix, fits the label
model and stores a run. Requests that arrive while a refit is still queued join it instead of adding one.
"""

from __future__ import annotations

import logging
import threading

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from projects import audit
from projects.models import AuditEvent, JobStatus, Project, Sample
from projects.services import ServiceError

from . import kinds, snapshot
from .engine import lfs as lf_engine
from .engine import predictions, sandbox, service
from .models import LabelingFunction, LabelModelRun, LFKind, LFVersion

log = logging.getLogger(__name__)

PREVIEW_SAMPLES = 8
# How many of the project's fields a message about a field no sample has lists.
LISTED_FIELDS = 20
PREVIEW_KINDS = ("keyword", "regex", "field", "code", "predictions", "service")
CODE_PREVIEW_ROWS = 2_000
# A service's preview asks it about this many seeded samples (it may be slow or metered).
SERVICE_PREVIEW_ROWS = 200


def _clean_definition(
    project: Project, kind: str, label, config, *, restoring: bool = False
) -> tuple[str, int, dict]:
    if kind not in LFKind.values:
        raise ServiceError(f"unknown kind {kind!r}; choose one of {', '.join(LFKind.values)}", "kind")
    if kind in kinds.MULTI_CLASS and label in (None, "", -1):
        index = -1
    elif isinstance(label, int) and not isinstance(label, bool):
        index = label if 0 <= label < project.cardinality else None
    else:
        index = project.label_index(str(label or ""))
    if index is None:
        raise ServiceError(
            f"label must be one of the project's classes: {', '.join(project.labels)}", "label"
        )
    clean = kinds.clean_config(project, kind, config, any_host=restoring)
    if kind == LFKind.FIELD and not restoring:
        # A rule on a field no sample has would save and vote on nothing, silently. (An archive's LFs are
        # restored as they were.)
        _check_field(project, clean["field"].strip())
    return kind, index, clean


def _check_field(project: Project, name: str) -> None:
    if name == "text":
        return
    n = sample_count(project)
    fields = snapshot.field_names(project, n)
    if name in fields:
        return
    if not n:
        raise ServiceError(
            f"no sample in this project has the field {name!r}: it has no samples yet (import some first)",
            "config",
        )
    offered = ["text", *fields]  # as sample_fields gives them
    listed = ", ".join(offered[:LISTED_FIELDS])
    if len(offered) > LISTED_FIELDS:
        listed += f" and {len(offered) - LISTED_FIELDS:,} more"
    raise ServiceError(
        f"no sample in this project has the field {name!r}; the samples' fields are: {listed}", "config"
    )


def unapplicable(kind: str, config: dict) -> str:
    """Why a checked definition cannot be applied on this server, or "": a service on a host that
    CHORUS_SERVICE_HOSTS does not allow (only a restored archive stores one; see create_lf)."""
    if kind != LFKind.SERVICE:
        return ""
    try:
        service.parse_service_config(config, settings.CHORUS_SERVICE_HOSTS)
    except ValueError as exc:
        return str(exc)
    return ""


def _clean_name(name) -> str:
    name = (name or "").strip()
    if not name:
        raise ServiceError("the labeling function needs a name", "name")
    if len(name) > 100:
        raise ServiceError("a name can have at most 100 characters", "name")
    return name


def queue_application(version: LFVersion) -> None:
    """Queue the application of this version alone, once the current transaction commits."""
    from .tasks import apply_lf_version

    transaction.on_commit(lambda: apply_lf_version.delay(version.pk))


def _new_version(lf: LabelingFunction, *, user, kind: str, label: int, config: dict) -> LFVersion:
    last = lf.versions.order_by("-number").values_list("number", flat=True).first() or 0
    held = unapplicable(kind, config)
    version = LFVersion.objects.create(
        lf=lf,
        number=last + 1,
        kind=kind,
        label=label,
        config=config,
        created_by=user,
        # Kept as defined, never sent to the worker (which would refuse the host anyway); activating the LF
        # once the host is allowed applies it (update_lf).
        status=JobStatus.FAILED if held else JobStatus.QUEUED,
        message=f"not applied: {held}" if held else "",
    )
    lf.current = version
    if held:
        lf.active = False
        lf.save(update_fields=["current", "active"])
        return version
    lf.save(update_fields=["current"])
    queue_application(version)
    if lf.active:
        # The refit that will follow is queued now, in this transaction ("waiting for votes"): between the
        # application's end and its refit request the project would otherwise look idle, and the pages'
        # run status would stop polling before the new run exists.
        request_refit(project=lf.project, user=user)
    return version


@transaction.atomic
def create_lf(
    *, project: Project, user, name, kind, label, config, active: bool = True, restoring: bool = False
) -> LabelingFunction:
    """`restoring` (an archive's LFs, labeling.archive) keeps a service on a host this server does not allow:
    its version is stored but not applied, and the LF must be inactive until the host is allowed."""
    name = _clean_name(name)
    kind, index, clean = _clean_definition(project, kind, label, config, restoring=restoring)
    if LabelingFunction.objects.live().filter(project=project, name=name).exists():
        raise ServiceError(f"there is already a labeling function named {name!r}", "name")
    lf = LabelingFunction.objects.create(project=project, name=name, active=bool(active), created_by=user)
    version = _new_version(lf, user=user, kind=kind, label=index, config=clean)
    audit.record(project, user, "lf.created", lf, target_label=name, kind=kind, version=version.number)
    return lf


def _when(moment) -> str:
    """A time as a message says it: the clock alone today, with the date before."""
    local = timezone.localtime(moment)
    if local.date() == timezone.localtime().date():
        return local.strftime("%H:%M")
    return local.strftime("%Y-%m-%d %H:%M")


def _last_rename(lf: LabelingFunction):
    return (
        AuditEvent.objects.filter(
            project_id=lf.project_id, target_type="labelingfunction", target_id=lf.pk, action="lf.changed"
        )
        .filter(details__name=lf.name)
        .select_related("actor")
        .first()
    )


class LFConflict(ServiceError):
    """The LF changed since the client opened it (another tab, another person, a script): refused, so that a
    form posted whole never reverts a newer version or a rename unseen. `lf` is the LF as stored now.

    What counts: a newer version (its definition changed) or another name. Switching it on or off does not:
    the editor's form does not carry `active`, so saving it cannot undo that."""

    def __init__(self, lf: LabelingFunction, *, seen_version: int | None, seen_name: str | None):
        version = lf.current
        number = version.number if version is not None else 0
        if seen_version is not None and number != seen_version:
            who = version.created_by.username if version and version.created_by else "someone"
            when = f" at {_when(version.created_at)}" if version else ""
            if seen_name is not None and seen_name != lf.name:
                what = (
                    f"“{seen_name}” was renamed to “{lf.name}” and saved as version {number} by {who}{when}"
                )
            else:
                what = f"“{lf.name}” was saved as version {number} by {who}{when}"
        else:
            event = _last_rename(lf)
            who = event.actor.username if event and event.actor else "someone"
            when = f" at {_when(event.at)}" if event else ""
            what = f"“{seen_name}” was renamed to “{lf.name}” by {who}{when}"
        super().__init__(f"{what} after you opened it", "version")
        self.lf = lf
        self.current_version = number


@transaction.atomic
def update_lf(
    *,
    lf: LabelingFunction,
    user,
    name=None,
    kind=None,
    label=None,
    config=None,
    active=None,
    restoring: bool = False,
    seen_version: int | None = None,
    seen_name: str | None = None,
) -> LabelingFunction:
    """Rename, (de)activate, or redefine an LF; a new definition makes a new version, applied alone.

    Activating an LF whose current version failed or was never applied applies it again; one this server
    cannot apply (a restored service on a host that is not allowed) is refused, naming the host.

    `seen_version` / `seen_name`: the version number and name the client opened the LF on. When given and
    no longer what is stored, LFConflict is raised and nothing changes; left out (None), nothing is checked
    (last write wins, as before)."""
    lf = (
        LabelingFunction.objects.select_for_update(of=("self",))
        .select_related("current__created_by")
        .get(pk=lf.pk)
    )
    project = lf.project
    current = lf.current
    stored_number = current.number if current is not None else 0
    if (seen_version is not None and seen_version != stored_number) or (
        seen_name is not None and seen_name != lf.name
    ):
        raise LFConflict(lf, seen_version=seen_version, seen_name=seen_name)
    defining = kind is not None or label is not None or config is not None
    retry = None
    if active and not lf.active and not defining and current is not None:
        held = unapplicable(current.kind, current.config)
        if held:
            raise ServiceError(
                f"“{lf.name}” cannot be activated: {held}. Allow the host, or edit the labeling function's URL",
                "active",
            )
        if current.status == JobStatus.FAILED:
            retry = current
    if name is not None:
        name = _clean_name(name)
        if LabelingFunction.objects.live().filter(project=project, name=name).exclude(pk=lf.pk).exists():
            raise ServiceError(f"there is already a labeling function named {name!r}", "name")
        lf.name = name
    changed_activity = active is not None and bool(active) != lf.active
    if active is not None:
        lf.active = bool(active)
    lf.save(update_fields=["name", "active"])
    audit.record(
        project,
        user,
        "lf.changed",
        lf,
        target_label=lf.name,
        **audit.given(name=name, kind=kind, label=label, config=config, active=active),
    )
    if defining:
        new = _clean_definition(
            project,
            kind if kind is not None else current.kind,
            label if label is not None else current.label,
            config if config is not None else current.config,
            restoring=restoring,
        )
        if new != (current.kind, current.label, current.config):
            _new_version(lf, user=user, kind=new[0], label=new[1], config=new[2])
            return lf
    if retry is not None:
        LFVersion.objects.filter(pk=retry.pk).update(status=JobStatus.QUEUED, message="", processed=0)
        queue_application(retry)
        request_refit(project=project, user=user)
        return lf
    if changed_activity:
        transaction.on_commit(lambda: request_refit(project=project))
    return lf


@transaction.atomic
def delete_lf(*, lf: LabelingFunction, user) -> None:
    LabelingFunction.objects.filter(pk=lf.pk).update(deleted_at=timezone.now(), active=False)
    project = lf.project
    audit.record(project, user, "lf.deleted", lf, target_label=lf.name)
    transaction.on_commit(lambda: request_refit(project=project))


# --- reading the project's text ------------------------------------------------------------------------------


def sample_fields(project: Project) -> list[str]:
    """What a field rule can look at: "text", then the fields the project's samples have, sorted."""
    return ["text", *snapshot.field_names(project, sample_count(project))]


def project_texts(project: Project) -> list[str]:
    return list(Sample.objects.filter(project=project).order_by("row").values_list("text", flat=True))


def sample_count(project: Project | int) -> int:
    """How many samples the project has. Rows are dense (0..n-1), so the last row + 1: one probe of the
    (project, row) index, where count(*) reads every row (half a second at a million samples)."""
    project_id = project if isinstance(project, int) else project.pk
    last = Sample.objects.filter(project_id=project_id).aggregate(last=Max("row"))["last"]
    return 0 if last is None else last + 1


def project_columns(project: Project) -> tuple[np.ndarray, np.ndarray]:
    """Split code (0 train, 1 dev, 2 test) and gold label (-1 none) per row, in row order.

    Splits come from the snapshot and gold from the (few) hand-labeled rows, so this does not read every
    sample from the database.
    """
    n = sample_count(project)
    split = snapshot.column(project, "split", n).astype(np.int8)
    return split, gold_array(project, n)


def gold_array(project: Project, n: int) -> np.ndarray:
    gold = np.full(n, -1, dtype=np.int64)
    rows = list(
        Sample.objects.filter(project=project, gold_label__isnull=False, row__lt=n).values_list(
            "row", "gold_label"
        )
    )
    if rows:
        index, labels = np.array(rows, dtype=np.int64).T
        gold[index] = labels
    return gold


# --- preview ---------------------------------------------------------------------------------------------------


def preview_lf(*, project: Project, kind, label, config, exclude_lf: LabelingFunction | None = None) -> dict:
    """The figures of an unsaved LF: coverage, accuracy on gold, conflicts with the active LFs, examples.

    Keyword, regex and field LFs are previewed over the whole project in one vectorised pass over the
    snapshot; a code LF, which runs in the sandbox, over a seeded sample of CODE_PREVIEW_ROWS samples (the
    result says so).
    """
    if kind not in PREVIEW_KINDS:
        raise ServiceError(
            f"a preview is available for {', '.join(PREVIEW_KINDS)} labeling functions", "kind"
        )
    if kind == "predictions":
        # Checked here, not by _clean_definition, which stores the predictions (a preview keeps nothing).
        kind, index, clean = kind, -1, config if isinstance(config, dict) else {}
    else:
        kind, index, clean = _clean_definition(project, kind, label, config)
    total = sample_count(project)
    table = snapshot.load(project, total)
    rows = np.arange(total)
    sample_size = {"code": CODE_PREVIEW_ROWS, "service": SERVICE_PREVIEW_ROWS}.get(kind)
    if sample_size and total > sample_size:
        rows = np.sort(np.random.default_rng(project.seed).choice(total, sample_size, replace=False))
        table = table.take(rows)
    unmatched = None
    if kind == "predictions":
        votes, unmatched = _preview_predictions(project, clean, table)
    else:
        votes = _unsaved_votes(project, kind, index, clean, table)
    mask = votes != -1
    n = len(rows)
    gold = gold_array(project, total)[rows]
    on_gold = mask & (gold >= 0)
    correct = int((votes[on_gold] == gold[on_gold]).sum())
    incorrect = int(on_gold.sum()) - correct
    others = _current_votes(project, total, exclude_lf)
    conflicts = 0
    if others is not None and n:
        others = others[rows]
        disagree = ((others != -1) & (others != votes[:, None])).any(axis=1)
        conflicts = int((mask & disagree).sum())
    hits = rows[mask]
    shown = {
        s.row: s
        for s in Sample.objects.filter(project=project, row__in=[int(i) for i in hits[:PREVIEW_SAMPLES]])
    }
    parsed = lf_engine.parse_config(kind, clean) if kind in ("keyword", "regex") else None
    vote_of = dict(
        zip(rows[mask][:PREVIEW_SAMPLES].tolist(), votes[mask][:PREVIEW_SAMPLES].tolist(), strict=True)
    )
    examples = []
    for i in hits[:PREVIEW_SAMPLES]:
        sample = shown[int(i)]
        examples.append(
            {
                "row": sample.row,
                "id": sample.external_id,
                "text": sample.text,
                "spans": lf_engine.spans(parsed, sample.text) if parsed else [],
                "vote": project.label_name(vote_of[int(i)]),
                "gold": project.label_name(sample.gold_label),
            }
        )
    return {
        "n": n,
        "sampled": n < total,
        "total": total,
        "hits": int(mask.sum()),
        "coverage": float(mask.mean()) if n else 0.0,
        "correct": correct,
        "incorrect": incorrect,
        "empirical_accuracy": correct / (correct + incorrect) if correct + incorrect else None,
        "conflicts": conflicts / n if n else 0.0,
        "conflict_count": conflicts,
        "label": project.label_name(index),
        "examples": examples,
        "unmatched": unmatched,
    }


def _preview_predictions(project: Project, config: dict, table) -> tuple[np.ndarray, int]:
    try:
        preds = predictions.parse_predictions(config.get("predictions") or [], project.labels)
        min_score = config.get("min_score")
        min_score = None if min_score in (None, "") else float(min_score)
    except (predictions.PredictionsError, TypeError, ValueError) as exc:
        raise ServiceError(
            str(exc) if isinstance(exc, predictions.PredictionsError) else "min_score must be a number",
            "config",
        ) from None
    votes = predictions.votes_from_predictions(table.column("id").combine_chunks(), preds, min_score)
    unmatched, _ = predictions.unmatched_ids(table.column("id").combine_chunks(), preds)
    return votes, unmatched


# Code previews run in the web process's threads: at most this many at once per process, each with a short
# deadline, so a looping preview cannot tie up the web server (saved code LFs run in the worker instead).
_CODE_PREVIEWS = threading.BoundedSemaphore(1)


def _unsaved_votes(project: Project, kind: str, index: int, clean: dict, table) -> np.ndarray:
    from .application import votes_for

    unsaved = LFVersion(lf=LabelingFunction(project=project), kind=kind, label=index, config=clean)
    try:
        if kind == "service":
            cfg = service.parse_service_config(clean, settings.CHORUS_SERVICE_HOSTS)
            try:
                return service.label_texts(cfg, table.column("text").to_pylist(), project.labels)
            except service.ServiceLFError as exc:
                raise ServiceError(str(exc), "config") from None
        if kind != "code":
            return votes_for(unsaved, table, 0)
        if not _CODE_PREVIEWS.acquire(blocking=False):
            raise ServiceError(
                "another code preview is running on this server; try again in a moment", "config"
            )
        try:
            return sandbox.run_code_lf(
                clean["source"],
                kinds.code_records(table),
                project.labels,
                ids=table.column("id").to_pylist(),
                timeout_s=settings.CHORUS_CODE_PREVIEW_TIMEOUT,
                memory_mb=settings.CHORUS_CODE_LF_MEMORY_MB,
                workers=1,
                modules=kinds.code_modules(project),
            )
        finally:
            _CODE_PREVIEWS.release()
    except lf_engine.LFConfigError as exc:
        # A code LF that fails on a sample: the message names the sample and the line.
        raise ServiceError(str(exc), "config") from None


def _current_votes(project: Project, n: int, exclude_lf=None) -> np.ndarray | None:
    versions = current_versions(project).filter(status=JobStatus.DONE, n_rows=n)
    if exclude_lf is not None:
        versions = versions.exclude(lf=exclude_lf)
    arrays = [v.vote_array() for v in versions]
    if not arrays:
        return None
    return np.stack(arrays, axis=1)


def current_versions(project: Project):
    """The current version of every active LF, in LF creation order (the label matrix's column order)."""
    return (
        LFVersion.objects.filter(
            lf__project=project, lf__active=True, lf__deleted_at__isnull=True, lf__current_id=F("id")
        )
        .select_related("lf")
        .order_by("lf__created_at", "lf_id")
    )


# --- application -------------------------------------------------------------------------------------------------


def samples_added(project: Project, first_row: int = 0, count: int = 0) -> None:
    """New samples make every current version's votes short: re-apply them (each alone, in the worker)."""
    from . import snapshot

    snapshot.append(project, first_row, count)
    with transaction.atomic():
        for version in current_versions(project).select_for_update(of=("self",)):
            if version.status in (JobStatus.DONE, JobStatus.FAILED):
                LFVersion.objects.filter(pk=version.pk).update(status=JobStatus.QUEUED)
                queue_application(version)
        if not current_versions(project).exists():
            return
    request_refit(project=project)


def samples_changed(project: Project) -> None:
    """An import updated existing samples (their text or fields): rebuild the snapshot workers read and
    re-apply every current version, whose stored votes describe the old text."""
    from . import snapshot

    snapshot.rebuild(project)
    samples_added(project, 0, 0)


def pending_versions(project: Project) -> list[LFVersion]:
    return list(current_versions(project).filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]))


# --- refits -----------------------------------------------------------------------------------------------------------


def request_refit(*, project: Project, user=None, force: bool = False) -> LabelModelRun | None:
    """Queue a refit once the votes of every active LF are in; join a refit that is already queued.

    Returns the queued run, or None when votes are still being computed (the last application to finish asks
    again) or when there is nothing to fit. `force` (a person asking) raises instead of returning None for
    a project without active LFs.
    """
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        versions = list(current_versions(project))
        # With annotators as sources a project can be fitted on its annotators alone (a crowd project).
        if not versions and not project.annotators_as_sources:
            if force:
                raise ServiceError(
                    "there are no active labeling functions to fit a label model on; write one first"
                )
            return None
        run = LabelModelRun.objects.filter(project=project, status=JobStatus.QUEUED).first()
        if run is None:
            run = LabelModelRun.objects.create(project=project, requested_by=user, stage="waiting for votes")
        if any(v.status in (JobStatus.QUEUED, JobStatus.RUNNING) for v in versions):
            return run
        from .tasks import refit as refit_task

        run_id = run.pk
        transaction.on_commit(lambda: refit_task.delay(run_id))
        return run
