"""Pages of the projects app: the project list and overview, creating a project, import, label, members.

Each view opens with the access check (outsiders 404, other roles 403), calls a service or selector, and
renders the page, or one of its partials for an htmx request.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from . import queue, selectors, services, uploads
from .forms import AddMemberForm, MappingForm, ProjectForm, RoleForm, UploadForm
from .models import ImportJob, Membership, QueueOrder, Role, Sample
from .navigation import nav_for, url_or_none
from .permissions import can, project_for, role_of
from .services import ServiceError

# A form that did not validate answers 422 so scripts and htmx can tell it apart from success.
INVALID = 422
# A label submitted against a label that changed since the page showed it (services.LabelConflict).
CONFLICT = 409


def _page(request, project, current: str, **context) -> dict:
    return {
        "project": project,
        "nav": nav_for(request, project, current),
        "role": _role(request, project),
        **context,
    }


def _role(request, project) -> str | None:
    return role_of(request.user, project)


def _form_error(form, exc: ServiceError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


# --- projects ------------------------------------------------------------------------------------------------


@login_required
def project_list(request):
    projects = selectors.projects_for(request.user)
    return render(request, "projects/project_list.html", {"projects": projects})


@login_required
@require_http_methods(["GET", "POST"])
def project_create(request):
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project = services.create_project(user=request.user, **form.cleaned_data)
        except ServiceError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, f"Created {project.name}. Import samples to start labeling.")
            return redirect("project_detail", project.pk)
    return render(
        request, "projects/project_form.html", {"form": form}, status=INVALID if form.errors else 200
    )


@login_required
def project_detail(request, pk):
    project = project_for(request.user, pk, "view_project")
    user = request.user
    progress = selectors.progress_for(project, user)
    context = _page(
        request,
        project,
        "project_detail",
        progress=progress,
        remaining=_remaining(project, user),
        can_label=can(user, "label", project),
    )
    if can(user, "view_dashboard", project):
        # Counts (samples per split, hand-labeled, gold distribution), for every role that reads dashboards.
        context["summary"] = selectors.project_summary(project)
        context["run_status_url"] = url_or_none("run_status", project.pk)
        context["dashboard_url"] = url_or_none("dashboard", project.pk)
        # The labeling app's part of the overview (label distribution, annotators), fetched by hx-get.
        context["analysis_overview_url"] = url_or_none("analysis_overview", project.pk)
    if can(user, "import", project):
        context["can_import"] = True
        context["imports"] = project.imports.all()[:5]
    if can(user, "export", project):
        context["export_url"] = url_or_none("export", project.pk)
    return render(request, "projects/project_detail.html", context)


def _remaining(project, user) -> str:
    cap = 10_000
    left = queue.remaining_for(project, user, cap)
    return f"{cap:,}+" if left >= cap else f"{left:,}"


# --- import --------------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def import_samples(request, pk):
    """Step 1: the file. It is stored once, for this session, and step 2 maps its fields."""
    project = project_for(request.user, pk, "import")
    posted = request.method == "POST"
    form = UploadForm(request.POST if posted else None, request.FILES if posted else None)
    if posted:
        form.full_clean()  # the upload service's problems are added to the form's errors below
        try:
            staged = uploads.stage(
                request.session, project, request.FILES.get("file"), request.POST.get("encoding")
            )
        except ServiceError as exc:
            form.add_error(exc.field if exc.field in ("file", "encoding") else "file", exc.message)
        else:
            try:
                uploads.preview(staged)  # a file that cannot even be previewed is refused here, in place
            except ServiceError as exc:
                uploads.discard(request.session, staged)
                form.add_error("file", exc.message)
            else:
                return redirect("import_map", project.pk, staged.token)
    context = _page(request, project, "import_samples", form=form, imports=project.imports.all()[:10])
    return render(request, "projects/import.html", context, status=INVALID if form.errors else 200)


def _guess_class(value: str, labels: list[str], numeric: bool) -> str:
    """The class a label value most likely means; the page shows the guess and the user can change it."""
    if value in labels:
        return value
    folded = {name.lower(): name for name in labels}
    if value.lower() in folded:
        return folded[value.lower()]
    if numeric and 0 <= int(value) < len(labels):
        return labels[int(value)]
    return ""


def _label_values(staged, project, label_field: str, chosen: dict[str, str] | None = None) -> list[dict]:
    if not label_field:
        return []
    values = uploads.distinct_values(staged, label_field)
    numeric = bool(values) and all(v.lstrip("-").isdigit() for v in values)
    chosen = chosen or {}
    return [{"value": v, "cls": chosen.get(v) or _guess_class(v, project.labels, numeric)} for v in values]


@login_required
@require_http_methods(["GET", "POST"])
def import_map(request, pk, token):
    """Step 2: the detected columns and first rows; choose the fields and the label mapping, then start."""
    project = project_for(request.user, pk, "import")
    staged = uploads.get(request.session, project, token)
    if staged is None:
        return _upload_gone(request, project, token)
    fragment = request.htmx and request.method == "GET"  # the label map alone: no id field is shown
    posted_map = dict(zip(request.POST.getlist("map_value"), request.POST.getlist("map_class"), strict=False))
    try:
        preview = uploads.preview(staged)
        initial = _initial_fields(preview.columns)
        # These read further into the file than the preview's rows, and can meet a row it cannot read.
        id_guess = uploads.IdGuess("") if fragment else uploads.guess_id_field(staged, preview.columns)
        if request.method == "POST":
            label_field = request.POST.get("label_field")
        else:
            label_field = request.GET.get("label_field", initial["label_field"])
        values = _label_values(staged, project, label_field or "", posted_map)
    except ServiceError as exc:
        uploads.discard(request.session, staged)
        messages.error(request, f"{staged.filename}: {exc.message}" if staged.filename else exc.message)
        page = reverse("import_samples", args=[project.pk])
        return HttpResponseClientRedirect(page) if request.htmx else redirect(page)
    initial["id_field"] = id_guess.column
    form = MappingForm(request.POST or None, columns=preview.columns, initial=initial)
    context = _page(
        request,
        project,
        "import_samples",
        staged=staged,
        preview=preview,
        form=form,
        label_values=values,
        id_guess=id_guess,
    )
    if fragment:
        return render(request, "projects/import_map.html#label_map", context)
    if request.method == "POST" and "start" in request.POST and form.is_valid():
        unmapped = [v["value"] for v in values if not v["cls"]]
        unseen = [v["value"] for v in values if v["value"] not in posted_map]
        if form.cleaned_data["label_field"] and unseen:
            # The mapping was not on the page (no JavaScript): show it rather than import a guess.
            form.add_error(None, "Check which class each label value means, then start the import.")
        elif form.cleaned_data["label_field"] and unmapped:
            form.add_error(None, f"Choose a class for the label value {unmapped[0]!r}.")
        else:
            try:
                job = _start(request, project, staged, form, values, again=request.POST["start"] == "again")
            except services.AlreadyImported as exc:
                # The same content again without an id field: ask, with the same mapping, before importing.
                context["already"] = exc
                return render(request, "projects/import_map.html", context, status=CONFLICT)
            if job is not None:
                return redirect("import_job", project.pk, job.pk)
    status = INVALID if request.method == "POST" and form.errors else 200
    return render(request, "projects/import_map.html", context, status=status)


def _upload_gone(request, project, token):
    """The mapping step of an upload that is not staged any more (imported, or never this session's): the
    import page, saying what became of it, so Back after an import never lands on a bare "Not Found"."""
    imported = uploads.imported_by(request.session, project, token)
    if imported is not None:
        job_url = reverse("import_job", args=[project.pk, imported["job_id"]])
        messages.info(
            request,
            format_html(
                '{} was imported already (<a href="{}">see its import</a>); choose a file to import more.',
                imported["filename"],
                job_url,
            ),
        )
    else:
        messages.info(
            request,
            "That upload is no longer waiting for its field mapping (it was imported, or it is more than a "
            "day old, or it was uploaded in another session); choose the file again.",
        )
    page = reverse("import_samples", args=[project.pk])
    if request.htmx:  # the label map asked for by htmx: the whole page moves, not the fragment
        return HttpResponseClientRedirect(page)
    return redirect(page)


def _initial_fields(columns: list[str]) -> dict:
    """Preselect the columns whose names say what they are (text, label, split); the user can change them.

    The id field is suggested from its values as well as its name (uploads.guess_id_field)."""
    lower = {c.lower(): c for c in columns}

    def first(*names):
        return next((lower[n] for n in names if n in lower), "")

    return {
        "text_field": first("text", "content", "comment", "body", "message", "sentence"),
        "label_field": first("label", "class", "gold", "category"),
        "split_field": first("split", "set", "fold"),
    }


def _metadata_fields(request, form) -> list[str] | None:
    """The ticked columns; None (keep every other field) when all are ticked or the boxes were not shown."""
    ticked = form.cleaned_data.get("metadata_fields") or []
    columns = [value for value, _ in form.fields["metadata_fields"].choices]
    if not request.POST.get("metadata_shown") or set(ticked) >= set(columns):
        return None
    return list(ticked)


def _start(request, project, staged, form, values, again: bool) -> ImportJob | None:
    """The job importing the staged file, or None with the problem added to the form. AlreadyImported
    (the content was imported before, and again was not asked for) is the caller's to ask about."""
    data = form.cleaned_data
    options = {
        "text_field": data["text_field"],
        "id_field": data["id_field"],
        "label_field": data["label_field"],
        "split_field": data["split_field"],
        "label_map": {v["value"]: v["cls"] for v in values if v["value"] != v["cls"]}
        if data["label_field"]
        else {},
        "format": staged.format,
        "encoding": staged.encoding,
        "delimiter": data.get("delimiter") or None,
        "on_duplicate": data.get("on_duplicate") or "fail",
        "metadata_fields": _metadata_fields(request, form),
    }
    upload = uploads.as_file(staged)
    try:
        job = services.start_import(
            project=project, user=request.user, upload=upload, options=options, import_again=again
        )
    except services.AlreadyImported:
        raise
    except ServiceError as exc:
        _form_error(form, exc)
        return None
    finally:
        upload.close()
    uploads.mark_imported(request.session, staged, job.pk)
    return job


@login_required
def import_job(request, pk, job_id):
    project = project_for(request.user, pk, "import")
    job = get_object_or_404(ImportJob, pk=job_id, project=project)
    context = _page(request, project, "import_samples", job=job)
    template = "projects/import_job.html#progress" if request.htmx else "projects/import_job.html"
    return render(request, template, context)


# --- labeling ------------------------------------------------------------------------------------------------


COMMENT_DRAFT = "comment_draft"


def _comment_draft(request, sample: Sample | None) -> str:
    """The text of a comment refused on a page without htmx, once, for the sample it was written on."""
    draft = request.session.get(COMMENT_DRAFT)
    if not draft or sample is None or draft.get("sample") != sample.pk:
        return ""
    del request.session[COMMENT_DRAFT]
    return draft.get("text", "")


def _label_context(request, project, sample: Sample | None, status: dict | None = None) -> dict:
    user = request.user
    mine = selectors.my_annotation(project, user, sample) if sample else None
    everyone = can(user, "review", project)
    if sample is not None and mine is None:
        # The queue's head (or a sample I have not touched): "back" is my latest label.
        back, forward = selectors.my_neighbours(project, user, None)
    else:
        back, forward = selectors.my_neighbours(project, user, mine)
    last = selectors.my_last_annotation(project, user)
    return _page(
        request,
        project,
        "label",
        sample=sample,
        mine=mine,
        mine_name=project.label_name(mine.label) if mine else None,
        # Sent back with a label, so a label that changed since this card was shown is not replaced unseen.
        version=services.label_version(mine),
        back=back,
        forward=forward,
        at_queue=sample is None or (mine is None and forward is None),
        last=last,
        last_name=project.label_name(last.label) if last else None,
        keys=project.label_keys(),
        progress=selectors.progress_for(project, user),
        status=status,
        label_url=reverse("label", args=[project.pk]),
        comment_url=reverse("label_comment", args=[project.pk]),
        comments=selectors.comments_for(project, user, sample, everyone=everyone) if sample else [],
        comment_text=_comment_draft(request, sample),
        # Blind projects show an annotator nothing of others' labels; reviewers see them on the review page.
        others=selectors.others_labels(project, user, sample) if sample and not project.blind else None,
        predicted=queue.predicted_label(project, sample) if sample and not project.blind else None,
        skip_reasons=project.skip_reasons,
        orders=QueueOrder.choices,
        my_order=Membership.objects.filter(project=project, user=user)
        .values_list("queue_order", flat=True)
        .first(),
        project_order_name=project.get_queue_order_display().lower(),
        can_review=everyone,
        can_manage=can(user, "manage_project", project),
    )


@login_required
@require_http_methods(["GET", "POST"])
def label(request, pk):
    """One sample at a time from my queue; a key press posts the label and the next sample comes back."""
    project = project_for(request.user, pk, "label")
    if request.method == "POST":
        return _label_post(request, project)
    # ?id= is the sample's own id, the one the card shows ("Sample s12") and imports carry; ?sample= is the
    # database id the page's links use.
    sample_id = request.GET.get("sample")
    external_id = request.GET.get("id")
    if sample_id or external_id:
        found = Sample.objects.filter(project=project)
        if external_id:
            sample = found.filter(external_id=external_id).first()
        else:
            sample = (
                found.filter(pk=int(sample_id)).first()
                if sample_id.isdigit() and len(sample_id) < 19
                else None
            )
        if sample is None:
            context = _page(request, project, "label", missing=external_id or sample_id)
            return render(request, "projects/label_missing.html", context, status=404)
        if selectors.my_annotation(project, request.user, sample) is None:
            queue.claim(project, request.user, sample)  # opened by hand (back, undo): keep others off it
    else:
        sample = queue.claim_next(project, request.user)
    context = _label_context(request, project, sample)
    template = "projects/label.html#card" if request.htmx else "projects/label.html"
    return render(request, template, context)


def _int_or_404(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404("No such sample in this project.") from None


def _label_post(request, project):
    sample = Sample.objects.filter(project=project, pk=_int_or_404(request.POST.get("sample"))).first()
    if sample is None:
        raise Http404("No such sample in this project.")
    user = request.user
    show = None  # the sample to show next; None means the queue's head
    try:
        if "undo" in request.POST:
            before = selectors.my_annotation(project, user, sample)
            restored = services.undo_annotation(project=project, sample=sample, user=user)
            status = {"kind": "undone", "sample": sample, "restored": restored}
            status["removed_skip"] = restored is None and before is not None and before.label is None
            if restored is not None:
                status["label"] = project.label_name(restored.label)
            show = sample
        elif "skip" in request.POST:
            reason = request.POST.get("reason") or request.POST.get("reason_choice") or ""
            services.annotate(
                project=project, sample=sample, user=user, label=None, reason=reason, expected=_seen(request)
            )
            status = {"kind": "skipped", "sample": sample}
        else:
            index = _label_index(request.POST.get("label"))
            services.annotate(project=project, sample=sample, user=user, label=index, expected=_seen(request))
            status = {"kind": "saved", "sample": sample, "label": project.label_name(index)}
    except services.LabelConflict as exc:
        # The card comes back with the label as it is stored now, what was refused, and a button that
        # sends the same submission again against the stored version ("replace it with mine").
        refused = _label_index(request.POST.get("label")) if "skip" not in request.POST else None
        status = {
            "kind": "conflict",
            "sample": sample,
            "message": exc.message,
            "current": exc.current,
            "current_name": project.label_name(exc.current.label) if exc.current else None,
            "skip": "skip" in request.POST,
            "label": refused,
            "label_name": project.label_name(refused),
            "reason": (request.POST.get("reason") or request.POST.get("reason_choice") or "").strip(),
        }
        if exc.current is None:
            queue.claim(project, user, sample)  # nobody's label now: keep others off it while I decide
        context = _label_context(request, project, sample, status)
        template = "projects/label.html#card" if request.htmx else "projects/label.html"
        return render(request, template, context, status=CONFLICT)
    except ServiceError as exc:
        context = _label_context(
            request, project, sample, {"kind": "error", "sample": sample, "message": exc.message}
        )
        template = "projects/label.html#card" if request.htmx else "projects/label.html"
        return render(request, template, context, status=INVALID)
    if not request.htmx:
        messages.success(request, _status_text(status))
        url = reverse("label", args=[project.pk])
        return redirect(f"{url}?sample={show.pk}" if show else url)
    if show is None:
        show = queue.claim_next(project, user)
    elif selectors.my_annotation(project, user, show) is None:
        queue.claim(project, user, show)
    return render(request, "projects/label.html#card", _label_context(request, project, show, status))


@login_required
@require_POST
def label_comment(request, pk):
    """Add a comment on the sample being labeled; answers with the sample's comments (the htmx fragment)."""
    project = project_for(request.user, pk, "label")
    sample = Sample.objects.filter(project=project, pk=_int_or_404(request.POST.get("sample"))).first()
    if sample is None:
        raise Http404("No such sample in this project.")
    error = None
    try:
        services.add_comment(project=project, sample=sample, user=request.user, text=request.POST.get("text"))
    except ServiceError as exc:
        error = exc.message
    if not request.htmx:
        if error:
            messages.error(request, f"Comment not saved: {error}.")
            # The label page puts the refused text back in the comment field: nothing typed is lost.
            request.session[COMMENT_DRAFT] = {"sample": sample.pk, "text": request.POST.get("text", "")}
        else:
            messages.success(request, "Comment saved.")
        return redirect(f"{reverse('label', args=[project.pk])}?sample={sample.pk}")
    everyone = can(request.user, "review", project)
    context = _page(
        request,
        project,
        "label",
        sample=sample,
        comments=selectors.comments_for(project, request.user, sample, everyone=everyone),
        comment_url=reverse("label_comment", args=[project.pk]),
        comment_error=error,
        comment_text=request.POST.get("text", "") if error else "",
    )
    return render(request, "projects/label.html#comments", context, status=INVALID if error else 200)


def _seen(request):
    """The version of my label the page showed (see services.expected_version)."""
    return services.expected_version(request.POST.get("version"))


def _label_index(raw) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise ServiceError("choose one of the label buttons", "label") from None


def _status_text(status: dict) -> str:
    sample = status["sample"].external_id
    if status["kind"] == "saved":
        return f"Saved {status['label']} for sample {sample}."
    if status["kind"] == "skipped":
        return f"Skipped sample {sample}."
    restored = status.get("restored")
    if restored is not None:
        what = "skip" if restored.label is None else f"{status['label']} label"
        return f"Put back your {what} on sample {sample}."
    if status.get("removed_skip"):
        return f"Removed your skip of sample {sample}; label it now."
    return f"Removed your label on sample {sample}; label it again."


# --- members -------------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def members(request, pk):
    project = project_for(request.user, pk, "manage_project")
    form = AddMemberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        username = form.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            form.add_error("username", f"There is no user called {username!r}. They need an account first.")
        elif Membership.objects.filter(project=project, user=user).exists():
            form.add_error("username", f"{username} is already a member; change their role in the list.")
        else:
            try:
                services.add_member(
                    project=project, user=user, role=form.cleaned_data["role"], by=request.user
                )
            except ServiceError as exc:
                _form_error(form, exc)
            else:
                messages.success(
                    request, f"Added {username} as {Role(form.cleaned_data['role']).label.lower()}."
                )
                return redirect("members", project.pk)
    memberships = project.memberships.select_related("user").order_by("user__username")
    context = _page(request, project, "members", form=form, memberships=memberships, roles=Role.choices)
    return render(request, "projects/members.html", context, status=INVALID if form.errors else 200)


@login_required
@require_POST
def member_update(request, pk, user_id):
    """Change a member's role, or remove them (the button pressed says which)."""
    project = project_for(request.user, pk, "manage_project")
    membership = get_object_or_404(
        Membership.objects.select_related("user"), project=project, user_id=user_id
    )
    name = membership.user.username
    try:
        if "remove" in request.POST:
            services.remove_member(project=project, user=membership.user, by=request.user)
            messages.success(request, f"Removed {name} from the project.")
        else:
            form = RoleForm(request.POST)
            if not form.is_valid():
                raise ServiceError("choose a role", "role")
            services.change_role(
                project=project, user=membership.user, role=form.cleaned_data["role"], by=request.user
            )
            messages.success(request, f"{name} is now {Role(form.cleaned_data['role']).label.lower()}.")
    except ServiceError as exc:
        messages.error(request, f"{name}: {exc.message[0].upper()}{exc.message[1:]}.")
    request.user._chorus_roles = {}  # forget the cached roles: my own may have just changed
    if membership.user_id == request.user.id and not can(request.user, "manage_project", project):
        # I stepped down (to the overview) or left the project (to my project list).
        return (
            redirect("project_detail", project.pk)
            if role_of(request.user, project)
            else redirect("project_list")
        )
    return redirect("members", project.pk)
