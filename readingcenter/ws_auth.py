"""WebSocket authentication for API clients: ``Authorization: Token <key>`` on the handshake.

Browsers use their session cookie (AuthMiddlewareStack); a hospital system or a script has
an API token instead (live, with a scope that reads: portal:read, reading or management).
Query-string tokens are not accepted: they end up in access logs.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware


@database_sync_to_async
def _user_for_token(key: str):
    from rest_framework.exceptions import AuthenticationFailed

    from readingcenter.accounts.authentication import token_for_key
    from readingcenter.accounts.models import Scope

    try:
        token = token_for_key(key)
    except AuthenticationFailed:
        return None
    reads = {Scope.PORTAL_READ, Scope.READING, Scope.MANAGEMENT}
    return token.user if reads & set(token.scopes) else None


class TokenAuthMiddleware(BaseMiddleware):
    async def __call__(self, scope, receive, send):
        user = scope.get("user")
        if user is None or not user.is_authenticated:
            headers = dict(scope.get("headers") or [])
            value = headers.get(b"authorization", b"").decode("latin-1")
            scheme, _, key = value.partition(" ")
            if scheme.lower() == "token" and key.strip():
                found = await _user_for_token(key.strip())
                if found is not None:
                    scope = {**scope, "user": found}
        return await super().__call__(scope, receive, send)


@database_sync_to_async
def _session_passed_second_factor(user, session) -> bool:
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    if not user.requires_second_factor:
        return True
    persistent_id = session.get(DEVICE_ID_SESSION_KEY) if session is not None else None
    if not persistent_id:
        return False
    device = TOTPDevice.from_persistent_id(persistent_id)
    return device is not None and device.user_id == user.pk and device.confirmed


class SecondFactorMiddleware(BaseMiddleware):
    """A browser session signed in with the password only gets no live updates: it is not
    yet signed in, as far as the pages are concerned (accounts.middleware)."""

    async def __call__(self, scope, receive, send):
        from django.contrib.auth.models import AnonymousUser

        user = scope.get("user")
        signed_in = user is not None and user.is_authenticated
        if signed_in and not await _session_passed_second_factor(user, scope.get("session")):
            scope = {**scope, "user": AnonymousUser()}
        return await super().__call__(scope, receive, send)
