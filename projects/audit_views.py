"""The project's audit log page for admins: newest first, one page of events at a time (by keyset)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from . import audit
from .navigation import nav_for
from .permissions import project_for, role_of


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
