"""The labeling app's pages: the LF studio with its live preview, the dashboard, the run status fragment, export.

Each view opens with the access check (outsiders 404, other roles 403), calls one service or read, and
renders the page or, for an htmx request, the named partial of the same template.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from projects.models import JobStatus
from projects.permissions import can, check, project_for
from projects.services import ServiceError

from . import editor, services
from .dashboard import conflicts_page, dashboard_context
from .export import export_response
from .highlight import highlight
from .models import LabelingFunction, LabelModelRun

ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)
# Sent when a run_status fragment that was polling sees everything finished; pages listening refresh.
RUN_FINISHED_EVENT = "chorus:run-finished"
# An LF edit posted against a version or name that changed since the form was opened (services.LFConflict).
CONFLICT = 409


def _nav(request, project, current: str) -> list[dict]:
    from projects.navigation import nav_for

    return nav_for(request, project, current=current)


# --- the LF studio ------------------------------------------------------------------------------------------------


def _lf_list_context(request, project, selected: LabelingFunction | None) -> dict:
    lfs = list(
        LabelingFunction.objects.live()
        .filter(project=project)
        .select_related("current")
        .defer("current__votes")
    )
    run = (
        LabelModelRun.objects.filter(project=project, status=JobStatus.DONE)
        .only("id", "number", "lf_stats", "finished_at")
        .first()
    )
    stats = {s["lf"]: s for s in run.lf_stats} if run else {}
    rows = []
    for lf in lfs:
        version = lf.current
        rows.append(
            {
                "lf": lf,
                "version": version,
                "label": project.label_name(version.label) if version else None,
                "stats": stats.get(lf.pk),
                "selected": selected is not None and selected.pk == lf.pk,
            }
        )
    context = {
        "project": project,
        "rows": rows,
        "latest_done_run": run,
        "may_edit": can(request.user, "edit_lfs", project),
        "lf": selected,
    }
    context.update(_run_status_context(project, was_active=False))
    return context


def _studio_response(
    request, project, *, lf=None, form=None, error: ServiceError | None = None, status: int | None = None
):
    context = _lf_list_context(request, project, lf)
    form = form or (editor.form_from_version(lf, project) if lf else editor.blank_form(project))
    query = {k: ("1" if v is True else "" if v is False else v) for k, v in form.items()}
    if lf:
        query["lf"] = lf.pk
    context.update(
        {
            "nav": _nav(request, project, "lf_studio"),
            "lf": lf,
            "form": form,
            "field_rule": editor.describe_field_rule(lf.current.config)
            if lf and lf.current and lf.current.kind == "field"
            else "",
            "preview_query": urlencode(query),
            "error": error,
            "kinds": [(k.value, k.label) for k in editor.EDITOR_KINDS],
            "field_ops": editor.FIELD_OPS,
            "sample_fields": services.sample_fields(project),
            "form_editable": lf is None or lf.current is None or lf.current.kind in editor.EDITOR_KINDS,
        }
    )
    context["conflict"] = isinstance(error, services.LFConflict)
    return render(request, "labeling/lf_studio.html", context, status=status or (422 if error else 200))


@login_required
@require_http_methods(["GET", "POST"])
def lf_studio(request, pk):
    project = project_for(request.user, pk, "view_lfs")
    if request.method == "POST":
        check(request.user, "edit_lfs", project)
        form = editor.form_from_data(request.POST)
        try:
            config = editor.config_of(form)
            if config is None:
                raise ServiceError(
                    "paste the predictions: one line per sample, its id and label (and a score), comma-separated",
                    "config",
                )
            lf = services.create_lf(
                project=project,
                user=request.user,
                name=form["name"],
                kind=form["kind"],
                label=editor.label_of(form),
                config=config,
            )
        except ServiceError as exc:
            return _studio_response(request, project, form=form, error=exc)
        # The studio answers with a fresh form, so that the next LF typed in is a new one, not an edit of
        # this one; the message links to this one for editing it.
        messages.success(
            request,
            format_html(
                "Saved “{}” as version 1. Applying it to the samples, then refitting. "
                '<a href="{}">Edit “{}”</a>, or write the next one below.',
                lf.name,
                reverse("lf_edit", args=[project.pk, lf.pk]),
                lf.name,
            ),
        )
        return redirect("lf_studio", project.pk)
    if request.htmx and request.htmx.target == "lf-list":
        return render(request, "labeling/lf_studio.html#lf_list", _lf_list_context(request, project, None))
    return _studio_response(request, project)


def _live_lf(project, lf_id) -> LabelingFunction:
    return get_object_or_404(
        LabelingFunction.objects.live().select_related("current").defer("current__votes"),
        pk=lf_id,
        project=project,
    )


@login_required
@require_http_methods(["GET", "POST"])
def lf_edit(request, pk, lf_id):
    project = project_for(request.user, pk, "view_lfs")
    lf = _live_lf(project, lf_id)
    if request.method == "POST":
        check(request.user, "edit_lfs", project)
        form = editor.form_from_data(request.POST)
        before, old_name = lf.current_id, lf.name
        seen_version, seen_name = editor.seen_of(request.POST)
        try:
            lf = services.update_lf(
                lf=lf,
                user=request.user,
                name=form["name"],
                kind=form["kind"],
                label=editor.label_of(form),
                config=editor.config_of(form),
                seen_version=seen_version,
                seen_name=seen_name,
            )
        except services.LFConflict as exc:
            # The form comes back as typed, now based on the stored version: saving it again is the
            # explicit "save mine anyway"; the message says what it would replace.
            stored = _live_lf(project, lf.pk)
            if seen_name is not None and form["name"].strip() == seen_name:
                # The name was not touched in this form: it takes the new one rather than undo the rename.
                form["name"] = stored.name
            return _studio_response(request, project, lf=stored, form=form, error=exc, status=CONFLICT)
        except ServiceError as exc:
            return _studio_response(request, project, lf=lf, form=form, error=exc)
        lf = _live_lf(project, lf.pk)
        # A new name is said out loud: the form edits this LF, and a rename must not pass unnoticed.
        renamed = f"Renamed “{old_name}” to “{lf.name}”" if lf.name != old_name else ""
        if lf.current_id != before:
            saved = f"{renamed} and saved it" if renamed else f"Saved “{lf.name}”"
            messages.success(request, f"{saved} as version {lf.current.number}. Applying it, then refitting.")
        elif renamed:
            messages.success(request, f"{renamed}; its definition did not change, so no new version.")
        else:
            messages.info(request, f"“{lf.name}” saved; its definition did not change, so no new version.")
        return redirect("lf_edit", project.pk, lf.pk)
    if request.htmx and request.htmx.target == "lf-list":
        return render(request, "labeling/lf_studio.html#lf_list", _lf_list_context(request, project, lf))
    return _studio_response(request, project, lf=lf)


@login_required
@require_POST
def lf_active(request, pk, lf_id):
    project = project_for(request.user, pk, "edit_lfs")
    lf = _live_lf(project, lf_id)
    active = request.POST.get("active") == "1"
    try:
        services.update_lf(lf=lf, user=request.user, active=active)
    except ServiceError as exc:
        # A restored service LF whose host is not allowed here cannot be switched on: say why, change nothing.
        refused = exc.message
    else:
        refused = None
    if request.htmx:
        # The LF open in the editor stays marked in the refreshed list.
        selected = request.POST.get("selected", "")
        chosen = (
            LabelingFunction.objects.live().filter(project=project, pk=selected).first()
            if selected.isdigit()
            else None
        )
        context = _lf_list_context(request, project, chosen)
        context["toggle_error"] = refused
        return render(request, "labeling/lf_studio.html#lf_list", context)
    if refused:
        messages.error(request, refused)
        return redirect("lf_studio", project.pk)
    messages.success(request, f"“{lf.name}” is {'active' if active else 'inactive'} now; refitting.")
    return redirect("lf_studio", project.pk)


@login_required
@require_http_methods(["GET", "POST"])
def lf_delete(request, pk, lf_id):
    project = project_for(request.user, pk, "edit_lfs")
    lf = _live_lf(project, lf_id)
    if request.method == "POST":
        services.delete_lf(lf=lf, user=request.user)
        messages.success(
            request, f"Deleted “{lf.name}”. Past runs still name it; the next refit leaves it out."
        )
        if request.htmx:
            return HttpResponseClientRedirect(reverse("lf_studio", args=[project.pk]))
        return redirect("lf_studio", project.pk)
    context = {"project": project, "nav": _nav(request, project, "lf_studio"), "lf": lf}
    return render(request, "labeling/lf_delete.html", context)


@login_required
@require_GET
def lf_preview(request, pk):
    project = project_for(request.user, pk, "view_lfs")
    exclude = None
    if request.GET.get("lf", "").isdigit():
        exclude = LabelingFunction.objects.live().filter(project=project, pk=int(request.GET["lf"])).first()
    if can(request.user, "edit_lfs", project):
        form = editor.form_from_data(request.GET)
    elif exclude is not None and exclude.current is not None:
        # Reviewers and viewers see a saved LF's matches, never a definition they typed: that would let a
        # read-only member run code (a code LF) or costly patterns on the project.
        form = editor.form_from_version(exclude, project)
    else:
        raise PermissionDenied("only admins and developers may preview a labeling function that is not saved")
    context = {"project": project, "form": form, "preview": None, "preview_error": None}
    if not editor.is_blank(form):
        try:
            preview = services.preview_lf(
                project=project,
                kind=form["kind"],
                label=editor.label_of(form),
                config=editor.config_of(form),
                exclude_lf=exclude,
            )
        except ServiceError as exc:
            context["preview_error"] = exc
        else:
            for example in preview["examples"]:
                example["html"] = highlight(example["text"], example["spans"])
            context["preview"] = preview
    return render(request, "labeling/lf_studio.html#preview", context)


# --- run status ----------------------------------------------------------------------------------------------------


def _run_status_context(project, was_active: bool, seen: int | None = None) -> dict:
    """seen: the latest run the page showed when it was idle; a different one now means work was started
    elsewhere (another tab, the API) and finished or is under way: the page catches up."""
    run = (
        LabelModelRun.objects.filter(project=project)
        .only(
            "id",
            "number",
            "status",
            "stage",
            "message",
            "created_at",
            "started_at",
            "finished_at",
            "coverage",
            "n_samples",
        )
        .first()
    )
    pending = list(services.current_versions(project).filter(status__in=ACTIVE).defer("votes", "config"))
    active = bool(pending) or (run is not None and run.status in ACTIVE)
    newer = seen is not None and run is not None and run.pk != seen
    return {
        "project": project,
        "status_run": run,
        "pending_versions": pending,
        "status_active": active,
        "status_finished_now": (was_active or newer) and not active,
    }


@login_required
@require_GET
def run_status(request, pk):
    project = project_for(request.user, pk, "view_dashboard")
    seen = request.GET.get("seen")
    context = _run_status_context(
        project,
        was_active=request.GET.get("was") == "active",
        seen=int(seen) if seen is not None and seen.isdigit() else None,
    )
    if not request.htmx:
        # Opened as a link (no JavaScript): the same fragment inside a page.
        context["nav"] = _nav(request, project, "run_status")
        return render(request, "labeling/run_status.html", context)
    response = render(request, "labeling/_run_status.html", context)
    if context["status_finished_now"]:
        trigger_client_event(response, RUN_FINISHED_EVENT)
    return response


@login_required
@require_POST
def refit(request, pk):
    project = project_for(request.user, pk, "run_refit")
    try:
        services.request_refit(project=project, user=request.user, force=True)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, "Refit queued; it starts once every active labeling function's votes are in."
        )
    return redirect("dashboard", project.pk)


# --- dashboard ------------------------------------------------------------------------------------------------------


@login_required
@require_GET
def dashboard(request, pk):
    project = project_for(request.user, pk, "view_dashboard")
    after = request.GET.get("after", "")
    lf_filter = request.GET.get("lf", "")
    if request.htmx and request.htmx.target == "conflicts":
        run = (
            LabelModelRun.objects.filter(project=project, status=JobStatus.DONE)
            .defer("probabilities", "predictions")
            .first()
        )
        if run is None:
            raise Http404("No label model run yet.")
        context = {
            "project": project,
            "run": run,
            "conflicts": conflicts_page(project, run, after, lf_filter),
        }
        return render(request, "labeling/dashboard.html#conflicts", context)
    context = dashboard_context(project, after=after, lf_filter=lf_filter)
    context.update(_run_status_context(project, was_active=False))
    context.update(
        {
            "nav": _nav(request, project, "dashboard"),
            "may_refit": can(request.user, "run_refit", project),
            "may_edit": can(request.user, "edit_lfs", project),
            "may_export": can(request.user, "export", project),
        }
    )
    if request.htmx and request.htmx.target == "dashboard":
        return render(request, "labeling/dashboard.html#dashboard", context)
    return render(request, "labeling/dashboard.html", context)


# --- export ---------------------------------------------------------------------------------------------------------


@login_required
@require_GET
def export(request, pk):
    project = project_for(request.user, pk, "export")
    fmt = request.GET.get("format", "csv")
    try:
        return export_response(project, fmt, request.GET)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("dashboard", project.pk)
