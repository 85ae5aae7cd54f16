"""Adding a class at the end of a project's label set, and renaming one (not removing or reordering one: those
would change indexes).

Hand labels, adjudications, gold and check labels, LF votes and run arrays store the class index, so a rename
leaves them as they are. What names a class instead is rewritten in the rename's transaction: the label map
of imports still waiting for a worker here, and (through the class_renamed signal) what the labeling app
stored by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction

from . import audit
from .models import ImportJob, JobStatus, Project
from .services import MAX_CLASS_NAME, MAX_CLASSES, ServiceError, update_project
from .signals import class_renamed


@dataclass(frozen=True)
class Added:
    project: Project
    index: int
    name: str


@dataclass(frozen=True)
class Renamed:
    project: Project
    index: int
    old: str
    new: str
    # What the caller should tell the person (e.g. code that returns the old name), one sentence each.
    notes: list[str] = field(default_factory=list)


def clean_class_name(project: Project, index: int, name) -> str:
    """The new name of class `index` (a new class: the next index), stripped, or ServiceError naming the
    problem (field "name")."""
    if not isinstance(name, str):
        raise ServiceError("the new class name must be text", "name")
    name = name.strip()
    if not name:
        raise ServiceError("the new class name is blank; give the class a name", "name")
    if len(name) > MAX_CLASS_NAME:
        raise ServiceError(
            f"a class name can have at most {MAX_CLASS_NAME} characters ({len(name)} given)", "name"
        )
    if "," in name or "\n" in name or "\r" in name:
        # The schema form lists classes one per line or comma-separated.
        raise ServiceError(f"a class name cannot contain a comma or a line break ({name!r})", "name")
    if name.upper() == "ABSTAIN":
        raise ServiceError(
            "ABSTAIN is reserved for a labeling function's 'no vote'; name the class otherwise", "name"
        )
    for other, existing in enumerate(project.labels):
        if other != index and existing.lower() == name.lower():
            raise ServiceError(
                f"another class is already called {existing!r} (class names must differ, ignoring case)",
                "name",
            )
    return name


@transaction.atomic
def rename_class(*, project: Project, index, name, user=None) -> Renamed:
    """Give class `index` (0-based) the name `name`; everything labeled with it keeps pointing to it."""
    # The row lock orders this rename with any other, and with a refit storing its results by name.
    project = Project.objects.select_for_update().get(pk=project.pk)
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < project.cardinality:
        raise ServiceError(
            f"there is no class number {index}; the classes are numbered 0 to {project.cardinality - 1}",
            "index",
        )
    new = clean_class_name(project, index, name)
    old = project.labels[index]
    if new == old:
        return Renamed(project, index, old, new)
    labels = list(project.labels)
    labels[index] = new
    project.labels = labels
    project.save(update_fields=["labels", "updated_at"])
    audit.record(project, user, "class.renamed", project, index=index, name={"old": old, "new": new})
    # An import waiting for a worker maps file values to class names: point those at the new name.
    waiting = ImportJob.objects.filter(project=project, status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
    for job in waiting:
        label_map = (job.options or {}).get("label_map") or {}
        if old in label_map.values():
            job.options = dict(
                job.options, label_map={k: (new if v == old else v) for k, v in label_map.items()}
            )
            job.save(update_fields=["options"])
    notes: list[str] = []
    # Sent inside the transaction (not on commit): what receivers rewrite commits with the rename or not at all.
    for _, said in class_renamed.send(sender=Project, project=project, index=index, old=old, new=new):
        notes.extend(said or [])
    return Renamed(project, index, old, new, notes)


@transaction.atomic
def add_class(*, project: Project, name, user=None) -> Added:
    """Append a class named `name`. It goes through update_project, as PATCH /api/projects/<id>/ with the
    longer label list does: the same audit event, and the same refit request after commit (classes_added)."""
    # The row lock orders this with a rename or another add, so two new names cannot both pass the check.
    project = Project.objects.select_for_update().get(pk=project.pk)
    if project.cardinality >= MAX_CLASSES:
        raise ServiceError(f"a project can have at most {MAX_CLASSES} classes, and this one has them", "name")
    new = clean_class_name(project, project.cardinality, name)
    project = update_project(project=project, labels=[*project.labels, new], user=user)
    return Added(project, project.cardinality - 1, new)
