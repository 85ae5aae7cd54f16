"""The exports page: stream CSV/JSONL at once, or have a worker build Parquet, the label matrix or the
project archive, watch it (the list polls while a job runs) and download the file."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from projects.permissions import project_for
from projects.services import ServiceError

from . import export, export_jobs
from .models import ExportJob

FORMAT_NAMES = {
    "parquet": "Parquet of the labels",
    "label_matrix": "Label matrix (.npy, for Snorkel)",
    "archive": "Whole-project archive",
}


@login_required
@require_http_methods(["GET", "POST"])
def exports(request, pk):
    project = project_for(request.user, pk, "export")
    if request.method == "POST":
        try:
            export_jobs.start_export(
                project=project, user=request.user, fmt=request.POST.get("format"), options=request.POST
            )
        except ServiceError as exc:
            messages.error(request, exc.message)
        return redirect("exports", project.pk)
    from projects.navigation import nav_for

    jobs = list(ExportJob.objects.filter(project=project)[:20])
    for job in jobs:
        job.title = FORMAT_NAMES.get(job.format, job.format)
    context = {
        "project": project,
        "nav": nav_for(request, project, current="dashboard"),
        "jobs": jobs,
        "running": any(not j.finished for j in jobs),
        "run": export.latest_run(project),
    }
    template = "labeling/exports.html#jobs" if request.htmx else "labeling/exports.html"
    return render(request, template, context)


@login_required
@require_GET
def export_download(request, pk, job_id):
    project = project_for(request.user, pk, "export")
    job = ExportJob.objects.filter(project=project, pk=job_id, status="done").first()
    if job is None or not job.file:
        raise Http404("This export has no file (yet).")
    return FileResponse(job.file.open("rb"), as_attachment=True, filename=job.file.name.rsplit("/", 1)[-1])
