"""The review page (samples whose hand labels disagree, one at a time, adjudicated with a key), and the
annotation workflow's settings: the project's (admins, with adding and renaming its classes and deleting the
project)
and an annotator's own queue order.

On the review page reviewers and admins see each hand label with who gave it; the label they choose becomes
the sample's gold label (projects.services.adjudicate), and the next disagreement comes back.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from . import classes, deletion, queue, selectors, services
from .models import QueueOrder, Sample
from .navigation import nav_for
from .permissions import can, project_for, role_of
from .services import ServiceError

INVALID = 422
CONFLICT = 409  # an adjudication made or changed since the page showed the sample


def _sample_or_404(project, raw) -> Sample:
    try:
        pk = int(raw)
    except (TypeError, ValueError):
        raise Http404("No such sample in this project.") from None
    sample = Sample.objects.filter(project=project, pk=pk).first()
    if sample is None:
        raise Http404("No such sample in this project.")
    return sample


def _next_disputed(project, after_row: int | None = None) -> Sample | None:
    disputed = selectors.disputed(project)
    if after_row is not None:
        disputed = disputed.filter(row__gt=after_row)
    return disputed.first()


def _context(request, project, sample: Sample | None, status: dict | None = None) -> dict:
    url = reverse("review", args=[project.pk])
    after = _next_disputed(project, sample.row) if sample else None
    adjudication = selectors.adjudication_of(sample) if sample else None
    return {
        "project": project,
        "nav": nav_for(request, project, "review"),
        "role": role_of(request.user, project),
        "sample": sample,
        "hand_labels": selectors.hand_labels_of(project, sample) if sample else [],
        "adjudication": adjudication,
        "adjudicated_name": project.label_name(adjudication.label) if adjudication else None,
        # Sent back with a decision, so one made since by another reviewer is not replaced unseen.
        "version": services.label_version(adjudication),
        "comments": selectors.comments_for(project, request.user, sample, everyone=True) if sample else [],
        "keys": project.label_keys(),
        "waiting": selectors.disputed(project).count(),
        "next_sample": after,
        "review_url": url,
        "comment_url": reverse("label_comment", args=[project.pk]),
        "status": status,
        "can_manage": can(request.user, "manage_project", project),
    }


@login_required
@require_http_methods(["GET", "POST"])
def review(request, pk):
    project = project_for(request.user, pk, "review")
    template = "projects/review.html#card" if request.htmx else "projects/review.html"
    if request.method == "POST":
        sample = _sample_or_404(project, request.POST.get("sample"))
        try:
            label = int(request.POST.get("label", ""))
        except ValueError:
            label = -1
        try:
            services.adjudicate(
                project=project,
                sample=sample,
                user=request.user,
                label=label,
                expected=services.expected_version(request.POST.get("version")),
            )
        except services.LabelConflict as exc:
            # Another reviewer (or tab) decided since this card was shown: the card shows their decision and
            # offers to replace it with mine, against the stored version.
            status = {
                "kind": "conflict",
                "sample": sample,
                "message": exc.message,
                "label": label,
                "label_name": project.label_name(label),
            }
            return render(request, template, _context(request, project, sample, status), status=CONFLICT)
        except ServiceError as exc:
            status = {"kind": "error", "sample": sample, "message": exc.message}
            return render(request, template, _context(request, project, sample, status), status=INVALID)
        status = {"kind": "saved", "sample": sample, "label": project.label_name(label)}
        if not request.htmx:
            messages.success(request, f"Adjudicated sample {sample.external_id} as {status['label']}.")
            return redirect("review", project.pk)
        following = _next_disputed(project, sample.row) or _next_disputed(project)
        return render(request, template, _context(request, project, following, status))
    if request.GET.get("sample"):
        sample = _sample_or_404(project, request.GET["sample"])
    else:
        sample = _next_disputed(project)
    return render(request, template, _context(request, project, sample))


# --- workflow settings ---------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def workflow(request, pk):
    """Admins: overlap, queue order, blind mode and skip reasons of the project's annotation workflow."""
    project = project_for(request.user, pk, "manage_project")
    error = None
    if request.method == "POST":
        try:
            overlap = int(request.POST.get("overlap", ""))
        except ValueError:
            overlap = 0
        check_every = request.POST.get("check_every")
        try:
            check_every = int(check_every) if check_every is not None else None
        except ValueError:
            check_every = -1  # refused by the service, with its message
        try:
            services.update_workflow(
                project=project,
                user=request.user,
                overlap=overlap,
                queue_order=request.POST.get("queue_order", ""),
                blind="blind" in request.POST,
                skip_reasons=request.POST.get("skip_reasons", ""),
                check_every=check_every,
                annotators_as_sources="annotators_as_sources" in request.POST,
            )
        except ServiceError as exc:
            error = exc
        else:
            messages.success(request, "Saved the annotation settings.")
            return redirect("workflow", project.pk)
    context = _workflow_context(
        request,
        project,
        error=error,
        form=request.POST if error else None,
        deletion=_delete_refusal(request, project),
    )
    return render(request, "projects/review_workflow.html", context, status=INVALID if error else 200)


DELETE_REFUSAL = "delete_refusal"


def _delete_refusal(request, project) -> dict | None:
    """A delete refused without htmx, shown once in the danger zone after its redirect: why, and what was typed."""
    refusal = request.session.get(DELETE_REFUSAL)
    if not refusal or refusal.get("project") != project.pk:
        return None
    del request.session[DELETE_REFUSAL]
    return {"message": refusal["message"], "confirm": refusal["confirm"]}


def _workflow_context(request, project, **context) -> dict:
    return {
        "project": project,
        "nav": nav_for(request, project, "workflow"),
        "role": role_of(request.user, project),
        "orders": QueueOrder.choices,
        "classes": [(i, key, name) for i, (key, name) in enumerate(project.label_keys())],
        "can_delete": can(request.user, "delete_project", project),
        **context,
    }


@login_required
@require_POST
def class_add(request, pk):
    """Admins: add a class at the end. An htmx request gets the page's classes card back, saying what happened."""
    project = project_for(request.user, pk, "manage_project")
    name = request.POST.get("name", "")
    try:
        done = classes.add_class(project=project, name=name, user=request.user)
    except ServiceError as exc:
        result = {"kind": "error", "message": exc.message, "name": name}
        context = _workflow_context(request, project, added=result)
        template = (
            "projects/review_workflow.html#classes" if request.htmx else "projects/review_workflow.html"
        )
        return render(request, template, context, status=INVALID)
    key = done.project.label_keys()[done.index][0]
    said = (
        f"Added the class {done.name} (key {key}). A refit is requested so that the label model learns it; "
        f"until it is done, the latest run gives {done.name} no probability."
    )
    if not request.htmx:
        messages.success(request, said)
        return redirect("workflow", project.pk)
    context = _workflow_context(request, done.project, added={"kind": "saved", "message": said})
    return render(request, "projects/review_workflow.html#classes", context)


@login_required
@require_POST
def class_rename(request, pk, index):
    """Admins: rename class `index`. An htmx request gets the page's classes card back, saying what happened."""
    project = project_for(request.user, pk, "manage_project")
    name = request.POST.get("name", "")
    try:
        done = classes.rename_class(project=project, index=index, name=name, user=request.user)
    except ServiceError as exc:
        result = {"kind": "error", "index": index, "message": exc.message, "name": name}
        context = _workflow_context(request, project, rename=result)
        template = (
            "projects/review_workflow.html#classes" if request.htmx else "projects/review_workflow.html"
        )
        return render(request, template, context, status=INVALID)
    if done.old == done.new:
        said = f"The class is already called {done.new}."
    else:
        said = f"Renamed the class {done.old} to {done.new}; every label of it keeps pointing to it."
    if not request.htmx:
        messages.success(request, said)
        for note in done.notes:
            messages.warning(request, note)
        return redirect("workflow", project.pk)
    result = {"kind": "saved", "index": index, "message": said, "notes": done.notes}
    context = _workflow_context(request, done.project, rename=result)
    return render(request, "projects/review_workflow.html#classes", context)


@login_required
@require_POST
def project_delete(request, pk):
    """Admins: delete the project once its name is typed; a wrong name gets the settings' card back saying so."""
    project = project_for(request.user, pk, "delete_project")
    confirm = request.POST.get("confirm", "")
    try:
        done = deletion.delete_project(project=project, user=request.user, confirm=confirm)
    except ServiceError as exc:
        refusal = {"message": exc.message, "confirm": confirm}
        if not request.htmx:
            # Redirect after the refused POST: Back, after a later successful delete, lands on the settings
            # page rather than on this answer, which the browser would offer to post again.
            request.session[DELETE_REFUSAL] = {"project": project.pk, **refusal}
            return redirect(f"{reverse('workflow', args=[project.pk])}#delete-project")
        context = _workflow_context(request, project, deletion=refusal)
        return render(request, "projects/review_workflow.html#delete", context, status=INVALID)
    messages.success(request, done.summary())
    if request.htmx:
        return HttpResponseClientRedirect(reverse("project_list"))
    return redirect("project_list")


@login_required
@require_POST
def my_queue_order(request, pk):
    """An annotator chooses their own queue order ('' follows the project's); back to the label page."""
    project = project_for(request.user, pk, "label")
    try:
        services.set_queue_order(
            project=project, user=request.user, queue_order=request.POST.get("queue_order", "")
        )
    except ServiceError as exc:
        messages.error(request, f"Queue order not changed: {exc.message}.")
    else:
        queue.release(project, request.user)  # the next sample comes in the new order
    return redirect("label", project.pk)
