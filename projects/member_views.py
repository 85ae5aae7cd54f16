"""Invitations: the admin's page to invite by link or email and withdraw invitations, and the page the
link opens, where a signed-in user joins or a new user signs up.

The link page is open to anyone holding the link (the token is the secret); it names the project and
nothing else of it.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from . import invitations
from .models import Invitation, Role
from .navigation import nav_for
from .permissions import project_for, role_of
from .services import ServiceError

INVALID = 422
GONE = 410


def _page(request, project, **context) -> dict:
    return {
        "project": project,
        "nav": nav_for(request, project, "members"),
        "role": role_of(request.user, project),
        **context,
    }


@login_required
@require_http_methods(["GET", "POST"])
def invitation_list(request, pk):
    project = project_for(request.user, pk, "manage_project")
    error, status = None, 200
    if request.method == "POST":
        try:
            invitation = invitations.create_invitation(
                project=project,
                by=request.user,
                role=request.POST.get("role", ""),
                email=request.POST.get("email", ""),
                site_url=request.build_absolute_uri("/"),
            )
        except ServiceError as exc:
            error, status = exc, INVALID
        else:
            role = Role(invitation.role).label.lower()
            if invitation.email:
                messages.success(request, f"Sent an invitation as {role} to {invitation.email}.")
            else:
                messages.success(request, f"Made an invitation link as {role}; copy it from the list below.")
            return redirect("invitations", project.pk)
    pending = [
        {"invitation": inv, "link": request.build_absolute_uri(invitations.accept_path(inv))}
        for inv in invitations.pending(project)
    ]
    past = (
        Invitation.objects.filter(project=project)
        .exclude(pk__in=[p["invitation"].pk for p in pending])
        .select_related("accepted_by")[:20]
    )
    context = _page(
        request,
        project,
        pending=pending,
        past=past,
        roles=Role.choices,
        error=error,
        posted=request.POST if error else {},
        days=settings.CHORUS_INVITATION_DAYS,
    )
    return render(request, "projects/members_invitations.html", context, status=status)


@login_required
@require_POST
def invitation_revoke(request, pk, invitation_id):
    project = project_for(request.user, pk, "manage_project")
    invitation = get_object_or_404(Invitation, pk=invitation_id, project=project)
    try:
        invitations.revoke_invitation(invitation=invitation, by=request.user)
    except ServiceError as exc:
        messages.error(request, f"{exc.message[0].upper()}{exc.message[1:]}.")
    else:
        messages.success(request, "Withdrew the invitation; its link no longer works.")
    return redirect("invitations", project.pk)


@require_http_methods(["GET", "POST"])
def invitation_accept(request, token):
    """Join with the link: a signed-in user presses Join; someone without an account signs up here."""
    invitation = Invitation.objects.select_related("project", "created_by").filter(token=token).first()
    if invitation is None:
        raise Http404(invitations.refusal(None))
    context = {
        "invitation": invitation,
        "role_name": Role(invitation.role).label.lower(),
        "form": {},
        "login_url": f"{reverse('login')}?next={request.path}",
    }
    reason = invitations.refusal(invitation)
    if reason:
        return render(request, "accounts/invitation.html", {**context, "refused": reason}, status=GONE)
    if request.method == "POST":
        try:
            if request.user.is_authenticated:
                invitations.accept(token=token, user=request.user)
            else:
                user = invitations.sign_up(
                    token=token,
                    username=request.POST.get("username", ""),
                    password=request.POST.get("password", ""),
                    email=request.POST.get("email", ""),
                )
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        except ServiceError as exc:
            refused = invitations.refusal(Invitation.objects.filter(pk=invitation.pk).first())
            context.update(error=exc, form=request.POST, refused=refused)
            return render(request, "accounts/invitation.html", context, status=GONE if refused else INVALID)
        role = context["role_name"]
        article = "an" if role[:1].lower() in "aeiou" else "a"
        messages.success(request, f"Welcome to {invitation.project.name}; you are {article} {role} here.")
        return redirect("project_detail", invitation.project_id)
    return render(request, "accounts/invitation.html", context)
