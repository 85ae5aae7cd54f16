"""The project audit log: one helper the services call after each change, and the keyset read of the page.

`record` runs inside the service's transaction, so an event exists exactly when its change was committed.
"""

from __future__ import annotations

from .models import AuditEvent

PAGE_SIZE = 50


def record(
    project, actor, action: str, target=None, target_label: str | None = None, **details
) -> AuditEvent:
    """Log `action` ("<type>.<verb>") on `target` (a model instance) by `actor`, with JSON-able details."""
    actor = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    target_type = target._meta.model_name if target is not None else ""
    label = target_label if target_label is not None else (str(target) if target is not None else "")
    return AuditEvent.objects.create(
        project=project,
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=target.pk if target is not None else None,
        target_label=label[:200],
        details=details,
    )


def record_changes(project, actor, fields: tuple[str, ...]) -> AuditEvent | None:
    """Log "setting.changed" with {field: {"old", "new"}} for the fields of `project` that differ from its
    row in the database; nothing when none does. Call it just before saving."""
    stored = type(project).objects.filter(pk=project.pk).values(*fields).first() or {}
    changes = {
        name: {"old": stored.get(name), "new": getattr(project, name)}
        for name in fields
        if stored.get(name) != getattr(project, name)
    }
    if not changes:
        return None
    return record(project, actor, "setting.changed", project, **changes)


def events_page(
    project, before: int | None = None, size: int = PAGE_SIZE
) -> tuple[list[AuditEvent], int | None]:
    """The newest `size` events with an id below `before`, and the id to ask for the next page (or None)."""
    events = AuditEvent.objects.filter(project=project).select_related("actor").order_by("-id")
    if before is not None:
        events = events.filter(id__lt=before)
    rows = list(events[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return rows, (rows[-1].id if more else None)


def given(**values) -> dict:
    """The values a caller passed (not None): what a settings change changed, for the event's details."""
    return {name: value for name, value in values.items() if value is not None}
