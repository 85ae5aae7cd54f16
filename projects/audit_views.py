"""The project's audit log page for admins: newest first, one page of events at a time (by keyset)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from . import audit
from .navigation import nav_for
from .permissions import project_for, role_of


def _describe(details: dict) -> str:
    """One line for the details column: "field: old → new" for changes, "key: value" otherwise."""
    parts = []
    for key, value in details.items():
        if isinstance(value, dict) and set(value) == {"old", "new"}:
            parts.append(f"{key}: {_short(value['old'])} → {_short(value['new'])}")
        else:
            parts.append(f"{key}: {_short(value)}")
    return "; ".join(parts)


def _short(value, limit: int = 80) -> str:
    text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@login_required
@require_GET
def audit_log(request, pk):
    project = project_for(request.user, pk, "view_audit")
    before = request.GET.get("before")
    try:
        before = int(before) if before else None
    except ValueError:
        raise Http404("No such page of the audit log.") from None
    events, next_before = audit.events_page(project, before=before)
    for event in events:
        event.description = _describe(event.details)
    context = {
        "project": project,
        "nav": nav_for(request, project, "members"),
        "role": role_of(request.user, project),
        "events": events,
        "next_before": next_before,
        "first_page": before is None,
    }
    template = "projects/audit.html#events" if request.htmx else "projects/audit.html"
    return render(request, template, context)
