"""Invitations: an admin invites by a link (or to an email) with a role; the link joins its holder once.

A link is refused, with the reason, once it is used, expired or withdrawn. An invitation made for an email
can only be taken by the account with that email (or by a new account made for it).
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from . import audit, services
from .models import Invitation, Membership, Project, Role
from .services import ServiceError

log = logging.getLogger(__name__)


def pending(project: Project):
    now = timezone.now()
    return Invitation.objects.filter(
        project=project, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
    ).select_related("created_by")


def refusal(invitation: Invitation | None) -> str | None:
    """Why this invitation cannot be used any more, in words for the person holding the link; None if it can."""
    if invitation is None:
        return "This invitation link is not valid. Check that you copied all of it, or ask for a new one."
    if invitation.accepted_at is not None:
        who = invitation.accepted_by.username if invitation.accepted_by else "someone"
        return f"This invitation was already used (by {who}). Ask an admin of the project for a new one."
    if invitation.revoked_at is not None:
        return "This invitation was withdrawn by an admin of the project. Ask them for a new one."
    if invitation.expires_at <= timezone.now():
        day = timezone.localtime(invitation.expires_at).strftime("%d %b %Y")
        return f"This invitation expired on {day}. Ask an admin of the project for a new one."
    return None


def accept_path(invitation: Invitation) -> str:
    return reverse("invitation_accept", args=[invitation.token])


@transaction.atomic
def create_invitation(*, project: Project, by, role: str, email: str = "", site_url: str = "") -> Invitation:
    """Make an invitation; with an email, send the link there (after commit). `site_url` makes the link whole."""
    if role not in Role.values:
        raise ServiceError(f"unknown role {role!r}; choose one of {', '.join(Role.values)}", "role")
    email = (email or "").strip()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise ServiceError(f"{email!r} is not an email address", "email") from None
        if Membership.objects.filter(project=project, user__email__iexact=email).exists():
            raise ServiceError(f"the account with {email} is a member already; change its role", "email")
    invitation = Invitation.objects.create(
        project=project,
        role=role,
        email=email,
        token=secrets.token_urlsafe(32),
        created_by=by,
        expires_at=timezone.now() + timedelta(days=settings.CHORUS_INVITATION_DAYS),
    )
    audit.record(project, by, "invitation.created", invitation, target_label=email or "link", role=role)
    if email:
        link = site_url.rstrip("/") + accept_path(invitation)
        inviter = by.get_username() if by else "An admin"
        body = (
            f"{inviter} invites you to the Chorus project {project.name!r} as {Role(role).label.lower()}.\n\n"
            f"Open this link to join (it works once, until "
            f"{timezone.localtime(invitation.expires_at):%d %b %Y}):\n{link}\n"
        )
        subject = f"Join {project.name} on Chorus"
        transaction.on_commit(lambda: _send(subject, body, email))
    return invitation


def _send(subject: str, body: str, email: str) -> None:
    # After commit: a mail server that is down must not undo the invitation; its link is on the page.
    try:
        send_mail(subject, body, None, [email])
    except Exception:
        log.exception("could not send the invitation email to %s", email)


@transaction.atomic
def revoke_invitation(*, invitation: Invitation, by) -> Invitation:
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.accepted_at is not None:
        raise ServiceError("this invitation was used already; remove the member instead", "invitation")
    if invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit.record(
            invitation.project, by, "invitation.revoked", invitation, target_label=invitation.email or "link"
        )
    return invitation


def _usable(token: str) -> Invitation:
    invitation = Invitation.objects.select_for_update().select_related("project").filter(token=token).first()
    reason = refusal(invitation)
    if reason:
        raise ServiceError(reason, "invitation")
    return invitation


@transaction.atomic
def accept(*, token: str, user) -> Membership:
    """The signed-in user joins the invitation's project with its role; the link is used up."""
    invitation = _usable(token)
    project = invitation.project
    if invitation.email and invitation.email.lower() != (user.email or "").lower():
        raise ServiceError(
            f"This invitation is for {invitation.email}; you are signed in as {user.get_username()}. "
            "Sign in with the account of that email, or ask for an invitation for yours.",
            "invitation",
        )
    current = Membership.objects.filter(project=project, user=user).first()
    if current is not None:
        raise ServiceError(
            f"You are a member of {project.name} already (as {Role(current.role).label.lower()}); "
            "an admin can change your role.",
            "invitation",
        )
    membership = services.add_member(project=project, user=user, role=invitation.role, by=user)
    invitation.accepted_by, invitation.accepted_at = user, timezone.now()
    invitation.save(update_fields=["accepted_by", "accepted_at"])
    audit.record(project, user, "invitation.accepted", invitation, target_label=user.get_username())
    return membership


@transaction.atomic
def sign_up(*, token: str, username: str, password: str, email: str = ""):
    """Make an account for the holder of a usable invitation and join them; returns the new user."""
    invitation = _usable(token)
    User = get_user_model()
    username = (username or "").strip()
    if not username:
        raise ServiceError("choose a username", "username")
    try:
        User._meta.get_field("username").run_validators(username)
    except ValidationError as exc:
        raise ServiceError(exc.messages[0], "username") from None
    if User.objects.filter(username__iexact=username).exists():
        raise ServiceError(f"the username {username!r} is taken; choose another, or sign in", "username")
    email = invitation.email or (email or "").strip()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise ServiceError(f"{email!r} is not an email address", "email") from None
    candidate = User(username=username, email=email)
    try:
        password_validation.validate_password(password or "", candidate)
    except ValidationError as exc:
        raise ServiceError(" ".join(exc.messages), "password") from None
    user = User.objects.create_user(username=username, email=email, password=password)
    accept(token=token, user=user)
    return user
