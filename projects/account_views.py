"""The signed-in user's own account pages: API tokens (made, listed, revoked).

Nothing here belongs to a project, so the access check is being signed in; a token of someone else is
answered 404, as if it did not exist.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from . import tokens
from .models import ApiToken
from .services import ServiceError

INVALID = 422


@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request):
    """List my tokens; POST makes one and shows its key on this answer only (it is not stored)."""
    new_key, new_token, error = None, None, None
    status = 200
    if request.method == "POST":
        try:
            new_token, new_key = tokens.create_token(user=request.user, name=request.POST.get("name", ""))
        except ServiceError as exc:
            error, status = exc.message, INVALID
        else:
            status = 201
    context = {
        "tokens": ApiToken.objects.filter(user=request.user),
        "sign_in_token": tokens.sign_in_token(request.user),
        "new_key": new_key,
        "new_token": new_token,
        "error": error,
        "name": request.POST.get("name", "") if error else "",
    }
    response = render(request, "accounts/api_tokens.html", context, status=status)
    # The key is on this page once: keep it out of every cache (and the back button's copy).
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def api_token_revoke(request, token_id):
    try:
        token = tokens.revoke_token(user=request.user, token_id=token_id)
    except ServiceError as exc:
        raise Http404(exc.message) from None
    messages.success(request, f"Revoked the token {token.name!r}; programs using it can no longer sign in.")
    return redirect("api_tokens")


@login_required
@require_POST
def api_sign_in_token_revoke(request):
    if not tokens.revoke_sign_in_token(user=request.user):
        raise Http404("you have no sign-in token (it may be revoked already)")
    messages.success(
        request, "Revoked the sign-in token from POST /api/token/; programs using it can no longer sign in."
    )
    return redirect("api_tokens")
