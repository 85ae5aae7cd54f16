"""Restoring a project archive from the browser: upload it (step 1), then watch the worker make the project."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from projects.services import ServiceError

from . import restore_jobs
from .models import RestoreJob


@login_required
@require_http_methods(["GET", "POST"])
def restore_project(request):
    # Anyone signed in may create a project, so anyone may restore one; they become its admin.
    error, name = None, ""
    if request.method == "POST":
        name = request.POST.get("name", "")
        try:
            job = restore_jobs.start_restore(user=request.user, upload=request.FILES.get("file"), name=name)
        except ServiceError as exc:
            error = exc.message
        else:
            return redirect("restore_job", job.pk)
    jobs = RestoreJob.objects.filter(created_by=request.user)[:10]
    context = {"error": error, "name": name, "jobs": jobs}
    return render(request, "labeling/restore.html", context, status=422 if error else 200)


@login_required
def restore_job(request, job_id):
    job = RestoreJob.objects.filter(pk=job_id, created_by=request.user).select_related("project").first()
    if job is None:
        raise Http404("No such restore.")
    template = "labeling/restore_job.html#progress" if request.htmx else "labeling/restore_job.html"
    return render(request, template, {"job": job})
