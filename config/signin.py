"""Signing in and changing a password: failed sign-ins are limited, and a new password revokes API tokens.

The limit counts failures only, in the shared cache (CACHES), twice: per username at one client address, so
one person's mistakes lock only that username from that address and not everyone behind the same office
NAT; and per address with a higher ceiling, so a script trying one password on many usernames is stopped
too. Both answer the same for a username that exists and one that does not.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from projects import tokens


@dataclass(frozen=True)
class Lock:
    """Why sign-in is refused for now, and for how many more seconds."""

    per_address: bool
    retry_after: int

    @property
    def minutes(self) -> int:
        return max(1, math.ceil(self.retry_after / 60))

    @property
    def message(self) -> str:
        what = (
            "Too many failed sign-ins from your address, with any username"
            if self.per_address
            else "Too many failed sign-ins with this username from your address"
        )
        return f"{what}. Try again in {self.minutes} minute{'s' if self.minutes != 1 else ''}, or reset your password."


def _address(request) -> str:
    # DRF's reading of the client address (X-Forwarded-For only past CHORUS_NUM_PROXIES trusted proxies), so
    # the form and the token API count the same client the same way.
    return BaseThrottle().get_ident(request) or ""


def _keys(request, username: str) -> tuple[str, str]:
    address = _address(request)
    # Hashed: a username may hold any character, and cache keys should be plain.
    pair = hashlib.sha256(f"{username.strip().lower()}\0{address}".encode()).hexdigest()
    return f"signin-fail:pair:{pair}", f"signin-fail:addr:{address}"


def _retry_after(key: str) -> int:
    until = cache.get(f"{key}:until")
    if until is None:  # counted before the end time was kept, or it just expired
        return settings.CHORUS_SIGNIN_WINDOW_SECONDS
    return max(1, math.ceil(until - time.time()))


def lock(request, username: str) -> Lock | None:
    """The lock on signing in as `username` from this request's address, or None when it may try."""
    pair_key, address_key = _keys(request, username)
    if (cache.get(address_key) or 0) >= settings.CHORUS_SIGNIN_MAX_FAILURES_PER_ADDRESS:
        return Lock(per_address=True, retry_after=_retry_after(address_key))
    if (cache.get(pair_key) or 0) >= settings.CHORUS_SIGNIN_MAX_FAILURES:
        return Lock(per_address=False, retry_after=_retry_after(pair_key))
    return None


def count_failure(request, username: str) -> None:
    window = settings.CHORUS_SIGNIN_WINDOW_SECONDS
    for key in _keys(request, username):
        if cache.add(key, 1, window):
            # The window runs from the first failure; kept so a locked page can say when it ends.
            cache.set(f"{key}:until", time.time() + window, window)
            continue
        try:
            cache.incr(key)
        except ValueError:  # expired between add() and incr()
            cache.add(key, 1, window)


def forget_failures(request, username: str) -> None:
    """A right password clears that username's count at this address; the per-address count stays, or one
    known account would let a script reset its own ceiling."""
    pair_key, _ = _keys(request, username)
    cache.delete_many([pair_key, f"{pair_key}:until"])


class LoginView(auth_views.LoginView):
    def post(self, request, *args, **kwargs):
        locked = lock(request, request.POST.get("username", ""))
        if locked:
            form = self.get_form()
            context = self.get_context_data(form=form, lock=locked)
            response = self.render_to_response(context, status=429)
            response["Retry-After"] = str(locked.retry_after)
            return response
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        forget_failures(self.request, self.request.POST.get("username", ""))
        return super().form_valid(form)

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
