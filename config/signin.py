"""Signing in and changing a password: failed sign-ins are limited, and a new password revokes API tokens.

The limit counts failures only, per client address and per username, in the shared cache (CACHES): a
person who mistypes twice is not slowed down, a script guessing passwords is stopped for the window.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.cache import cache

from projects import tokens


def _keys(request, username: str) -> list[str]:
    address = request.META.get("REMOTE_ADDR", "")
    # Hashed: a username may hold any character, and cache keys should be plain.
    user = hashlib.sha256(username.strip().lower().encode()).hexdigest()
    return [f"signin-fail:addr:{address}", f"signin-fail:user:{user}"]


def blocked(request, username: str) -> bool:
    limit = settings.CHORUS_SIGNIN_MAX_FAILURES
    return any((cache.get(key) or 0) >= limit for key in _keys(request, username))


def count_failure(request, username: str) -> None:
    window = settings.CHORUS_SIGNIN_WINDOW_SECONDS
    for key in _keys(request, username):
        if cache.add(key, 1, window):
            continue
        try:
            cache.incr(key)
        except ValueError:  # expired between add() and incr()
            cache.add(key, 1, window)


class LoginView(auth_views.LoginView):
    def post(self, request, *args, **kwargs):
        username = request.POST.get("username", "")
        if blocked(request, username):
            minutes = max(1, settings.CHORUS_SIGNIN_WINDOW_SECONDS // 60)
            form = self.get_form()
            context = self.get_context_data(form=form, blocked_minutes=minutes)
            return self.render_to_response(context, status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        count_failure(self.request, self.request.POST.get("username", ""))
        return super().form_invalid(form)


def _revoked_message(request, count: int) -> None:
    if count:
        messages.info(
            request,
            f"Your {count} API token{'s' if count != 1 else ''} {'were' if count != 1 else 'was'} revoked with "
            "the old password; make new ones on the API tokens page.",
        )


class PasswordChangeView(auth_views.PasswordChangeView):
    """A changed password (often: the old one leaked) also ends every API token made with it."""

    def form_valid(self, form):
        response = super().form_valid(form)
        _revoked_message(self.request, tokens.revoke_all(user=form.user))
        return response


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    def form_valid(self, form):
        response = super().form_valid(form)
        _revoked_message(self.request, tokens.revoke_all(user=form.user))
        return response
