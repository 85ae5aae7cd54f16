"""API tokens: several named keys per user, made and revoked in the browser, checked by the API.

Why not DRF's authtoken: it allows one key per user and stores the key itself. Here a person has one key per
script or machine (revoking one leaves the others working), and only the key's SHA-256 is stored, so a copy
of the database holds no usable key. DRF's TokenAuthentication stays after this class for keys made by
POST /api/token/, and both read the same header: `Authorization: Token <key>` (or `Bearer <key>`).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from .models import ApiToken
from .services import ServiceError

PREFIX = "chorus_"
MAX_TOKENS = 50
# Writing last_used_at on every request would make each API call a write; once a minute is enough to tell
# a token in use from a forgotten one.
TOUCH_EVERY = timedelta(minutes=1)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def create_token(*, user, name: str) -> tuple[ApiToken, str]:
    """Make a token; returns it and its key, which is shown once and never again."""
    name = (name or "").strip()
    if not name:
        raise ServiceError("give the token a name, e.g. the script or machine that will use it", "name")
    if len(name) > 100:
        raise ServiceError("a token name can have at most 100 characters", "name")
    if ApiToken.objects.filter(user=user).count() >= MAX_TOKENS:
        raise ServiceError(f"you have {MAX_TOKENS} tokens already; revoke one you no longer use", "name")
    if ApiToken.objects.filter(user=user, name=name).exists():
        raise ServiceError(f"you already have a token named {name!r}", "name")
    key = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, prefix=key[: len(PREFIX) + 6], digest=_digest(key))
    return token, key


@transaction.atomic
def revoke_token(*, user, token_id: int) -> ApiToken:
    token = ApiToken.objects.filter(user=user, pk=token_id).first()
    if token is None:
        raise ServiceError("there is no such token of yours (it may be revoked already)", "token")
    token.delete()
    return token


@transaction.atomic
def revoke_sign_in_token(*, user) -> bool:
    """Revoke the key POST /api/token/ made (DRF's one per user); False when there was none."""
    from rest_framework.authtoken.models import Token

    deleted, _ = Token.objects.filter(user=user).delete()
    return bool(deleted)


@transaction.atomic
def revoke_all(*, user) -> int:
    """Every API key of the user, named or made by POST /api/token/; how many there were."""
    named, _ = ApiToken.objects.filter(user=user).delete()
    return named + int(revoke_sign_in_token(user=user))


def sign_in_token(user):
    """The key POST /api/token/ made for this user, or None (listed beside the named tokens)."""
    from rest_framework.authtoken.models import Token

    return Token.objects.filter(user=user).first()


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("token", "bearer")

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower().decode(errors="replace") not in self.keywords:
            return None
        key = parts[1].decode(errors="replace")
        if not key.startswith(PREFIX):
            return None  # a DRF authtoken key: the next authentication class answers for it
        token = ApiToken.objects.select_related("user").filter(digest=_digest(key)).first()
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("This API token is not valid (it may have been revoked).")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > TOUCH_EVERY:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request):
        return "Token"


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Names the token header in the API schema (drf-spectacular cannot guess it for a custom class)."""

    target_class = "projects.tokens.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'A token made on the "API tokens" page, sent as "Token <key>".',
        }
