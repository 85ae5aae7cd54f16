"""The analysis pages: LF table, conflict matrix, model metrics, history, drill-downs, one sample, overview.

For developers, reviewers and viewers (annotators get 403, outsiders 404). Each page reads what the run
stored; drill-downs pick rows from the run's arrays (labeling.drilldown), never by scanning samples.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from projects import selectors
from projects import services as project_services
from projects.models import Sample
from projects.permissions import can, check, project_for
from projects.services import ServiceError

from . import analysis_data, drilldown

TABS = (
    ("analysis", "Labeling functions"),
    ("analysis_conflicts", "Conflicts"),
    ("analysis_metrics", "Model metrics"),
    ("analysis_history", "History"),
)


def _context(request, project, tab: str, run, **extra) -> dict:
    from projects.navigation import nav_for

    return {
        "project": project,
        "nav": nav_for(request, project, current="analysis"),
        "tabs": [{"name": name, "title": title, "current": name == tab} for name, title in TABS],
        "run": run,
        "may_edit": can(request.user, "edit_lfs", project),
        "may_open_sample": can(request.user, "view_sample", project),
        # Reversed once: a table of 50 LFs links each figure to its drill-down.
        # Ends in "?" or "&": the templates append the query, pinned to the run the page shows.
        "drill": reverse("drilldown", args=[project.pk]) + (f"?run={run.pk}&" if run else "?"),
        **extra,
    }


@login_required
@require_GET
def lf_table(request, pk):
    project = project_for(request.user, pk, "view_dashboard")
    run = analysis_data.run_for(project, request.GET.get("run"))
    table = (
        analysis_data.lf_table(project, run, request.GET.get("sort", ""), request.GET.get("dir", ""))
        if run
        else None
    )
    context = _context(request, project, "analysis", run, table=table)
    if request.htmx and request.htmx.target == "lf-table":
        return render(request, "labeling/analysis_lfs.html#lf_table", context)
    return render(request, "labeling/analysis_lfs.html", context)


@login_required
@require_GET
def conflicts(request, pk):
    project = project_for(request.user, pk, "view_dashboard")
    run = analysis_data.run_for(project, request.GET.get("run"))
    matrix = analysis_data.conflict_view(project, run, request.GET.get("view", "")) if run else None
    context = _context(request, project, "analysis_conflicts", run, matrix=matrix)
    if request.htmx and request.htmx.target == "matrix":
        return render(request, "labeling/analysis_conflicts.html#matrix", context)
    return render(request, "labeling/analysis_conflicts.html", context)


@login_required
@require_GET
def metrics(request, pk):
    project = project_for(request.user, pk, "view_dashboard")
    run = analysis_data.run_for(project, request.GET.get("run"))
    view = analysis_data.metrics_view(project, run) if run else None
    return render(
        request, "labeling/analysis_metrics.html", _context(request, project, "analysis_metrics", run, m=view)
    )


@login_required
@require_GET
def history(request, pk):
    project = project_for(request.user, pk, "view_dashboard")
    view = analysis_data.history_view(project, request.GET.get("a", ""), request.GET.get("b", ""))
    context = _context(request, project, "analysis_history", view["b"], h=view)
    if request.htmx and request.htmx.target == "comparison":
        return render(request, "labeling/analysis_history.html#comparison", context)
    return render(request, "labeling/analysis_history.html", context)


@login_required
@require_GET
def samples(request, pk):
    project = project_for(request.user, pk, "view_dashboard")
    run = analysis_data.run_for(project, request.GET.get("run"))
    if run is None:
        raise Http404("No label model run has finished yet.")
    try:
        query = drilldown.parse(request.GET, run.lf_stats or [], project.labels)
    except drilldown.BadDrilldown as exc:
        return HttpResponseBadRequest(str(exc))
    result = drilldown.page(project, run, query)
    stats, labels = run.lf_stats or [], project.labels
    result["next_query"] = query.params(stats, labels, after=result["next_after"], run=request.GET.get("run"))
    result["first_query"] = query.params(stats, labels, run=request.GET.get("run"))
    context = _context(request, project, "", run, page=result)
    if request.htmx and request.htmx.target == "drill-items":
        return render(request, "labeling/drilldown.html#items", context)
    return render(request, "labeling/drilldown.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def sample(request, pk, row):
    project = project_for(request.user, pk, "view_sample")
    found = get_object_or_404(Sample, project=project, row=row)
    error = replace = None
    if request.method == "POST":
        check(request.user, "label", project)
        label = project.label_index(request.POST.get("label", ""))
        try:
            if label is None:
                raise ServiceError("choose one of the project's labels", "label")
            project_services.annotate(
                project=project,
                sample=found,
                user=request.user,
                label=label,
                expected=project_services.expected_version(request.POST.get("version")),
            )
        except project_services.LabelConflict as exc:
            # Shown with the stored label, the buttons now carrying its version, and a replace button.
            error, replace = exc, project.labels[label]
        except ServiceError as exc:
            error = exc
        else:
            if not request.htmx:
                messages.success(request, f"Labeled sample {found.external_id} {project.labels[label]}.")
                return redirect("analysis_sample", project.pk, row)
            found.refresh_from_db()
    may_dashboard = can(request.user, "view_dashboard", project)
    run = analysis_data.run_for(project) if may_dashboard else None
    detail = drilldown.sample_detail(project, run, found)
    context = _context(
        request,
        project,
        "",
        run,
        d=detail,
        error=error,
        may_label=can(request.user, "label", project),
        label_keys=project.label_keys(),
        replace=replace,
        version=project_services.label_version(selectors.my_annotation(project, request.user, found)),
    )
    if request.htmx and request.htmx.target == "hand-labels":
        return render(request, "labeling/sample.html#hand_labels", context)
    return render(request, "labeling/sample.html", context)


@login_required
@require_GET
def overview(request, pk):
    """The labeling part of the project overview, included there by hx-get (projects does not import us)."""
    project = project_for(request.user, pk, "view_dashboard")
    run = analysis_data.run_for(project)
    context = {"project": project, "o": analysis_data.overview(project, run)}
    if request.htmx:
        return render(request, "labeling/_analysis_overview.html", context)
    context["nav"] = _context(request, project, "", run)["nav"]
    return render(request, "labeling/analysis_overview.html", context)
