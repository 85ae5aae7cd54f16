"""Deleting a project: every row of it and every file it keeps, once its admin typed its name to confirm.

The rows go in one transaction. The files (imports, staged uploads here; run arrays, snapshots, predictions
and exports through the project_deleting signal's receivers) are removed only after it commits, so a
deletion that fails leaves the project whole. Work still queued for the project finds its rows gone and
does nothing (each task claims its row by id first).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction

from . import audit
from .models import Adjudication, Annotation, Comment, ImportJob, Membership, Project, Sample
from .services import ServiceError
from .signals import project_deleting

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Deleted:
    project_id: int
    name: str
    # What went, by kind ("samples", "hand labels", "labeling functions", ...), in the order to tell it.
    counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        said = [f"{n:,} {what[:-1] if n == 1 else what}" for what, n in self.counts.items() if n]
        return f"Deleted the project {self.name}" + (f" with {', '.join(said)}." if said else ".")


def check_confirmation(project: Project, confirm) -> None:
    """The typed confirmation must be the project's name; ServiceError naming the problem otherwise."""
    if confirm is None or (isinstance(confirm, str) and not confirm.strip()):
        raise ServiceError(f"type the project's name, {project.name}, to confirm the deletion", "confirm")
    if not isinstance(confirm, str) or confirm.strip() != project.name:
        raise ServiceError(
            f"{confirm!r} is not the project's name; type {project.name} exactly to delete it", "confirm"
        )


@transaction.atomic
def delete_project(*, project: Project, user, confirm) -> Deleted:
    """Delete `project` and everything in it, if `confirm` is its name. Files go after the commit."""
    # The row lock waits for a refit storing its results or a rename in progress, and keeps new ones out.
    locked = Project.objects.select_for_update().filter(pk=project.pk).first()
    if locked is None:
        raise ServiceError("the project was deleted already", "confirm")
    project = locked
    check_confirmation(project, confirm)
    pk, name = project.pk, project.name
    counts = {
        "samples": Sample.objects.filter(project=project).count(),
        "hand labels": Annotation.objects.filter(project=project).count(),
    }
    # What the apps built on projects store for it (labeling: LFs, runs, exports); they remove their files.
    for _, stored in project_deleting.send(sender=Project, project=project):
        counts.update(stored or {})
    counts["members"] = Membership.objects.filter(project=project).count()
    imports = ImportJob.objects.filter(project=project).exclude(file="").values_list("file", flat=True)
    files = [Path(settings.MEDIA_ROOT) / name for name in imports]
    uploads = _staged_uploads(pk)
    # The largest tables first, in single statements: the ORM's cascade would load every sample's id first.
    for model in (Annotation, Comment, Adjudication, Sample):
        model.objects.filter(project=project)._raw_delete(model.objects.db)
    # Without a project, so the event outlives the project's own log (which goes with it).
    audit.record(None, user, "project.deleted", project, target_label=name, counts=counts)
    project.delete()
    log.info("project %s (%s) deleted by %s: %s", pk, name, getattr(user, "pk", None), counts)
    transaction.on_commit(lambda: remove_paths([*files, *uploads]))
    return Deleted(pk, name, counts)


def _staged_uploads(project_id: int) -> list[Path]:
    """Uploads staged for the project's import and not mapped yet (projects.uploads marks each folder)."""
    root = Path(settings.MEDIA_ROOT) / "uploads"
    if not root.is_dir():
        return []
    found = []
    for marker in root.glob("*/project"):
        try:
            if marker.read_text().strip() == str(project_id):
                found.append(marker.parent)
        except OSError:
            continue
    return found


def remove_paths(paths) -> None:
    """Remove files and folders, quietly when one is gone already (called after the deletion committed)."""
    for path in paths:
        path = Path(path)
        try:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not remove %s of a deleted project: %s", path, exc)
