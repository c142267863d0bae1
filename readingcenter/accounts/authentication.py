"""API tokens on the wire: ``Authorization: Token <key>``, and what each token's scopes allow.

The role still decides whose objects a caller sees (a hospital's token reads its own studies
only); a token's scopes narrow what it may do at all. Scopes go by area of the API, in one
table below, so that an endpoint added later falls under "management" (the narrowest set of
tokens) until someone says otherwise.
"""

from __future__ import annotations

import datetime as dt
import re

from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission

from readingcenter.accounts.models import ApiToken, Scope
from readingcenter.accounts.services import api_token_hash

SAFE = {"GET", "HEAD", "OPTIONS"}

# (methods, path under /api/v1/, scope): the first rule that matches decides.
SCOPE_RULES: list[tuple[set[str] | None, re.Pattern, str]] = [
    (None, re.compile(r"^orders/"), Scope.ORDERS_WRITE),
    (None, re.compile(r"^critical-results/\d+/acknowledge/$"), Scope.CRITICAL_ACKNOWLEDGE),
    (
        SAFE,
        re.compile(r"^(studies|reports|deliveries|critical-results|portal)/"),
        Scope.PORTAL_READ,
    ),
    (SAFE, re.compile(r"^analytics/sla-report/"), Scope.PORTAL_READ),
    (None, re.compile(r"^(worklist|reports|report-templates|macros|peer-reviews)/"), Scope.READING),
]
API_PREFIX = "/api/v1/"

# A scope that holds others: a manager's token reads what a portal token reads, and a reader's
# tools read studies and reports as well as write them.
IMPLIES = {
    Scope.MANAGEMENT: set(Scope),
    Scope.READING: {Scope.READING, Scope.PORTAL_READ},
}


def covers(scopes, needed: str) -> bool:
    return any(needed == held or needed in IMPLIES.get(held, ()) for held in scopes)


def scope_for(method: str, path: str) -> str:
    """The scope a token needs for this call; reading orders counts as portal:read."""
    tail = path[len(API_PREFIX) :] if path.startswith(API_PREFIX) else path.lstrip("/")
    for methods, pattern, scope in SCOPE_RULES:
        if (methods is None or method in methods) and pattern.search(tail):
            if scope == Scope.ORDERS_WRITE and method in SAFE:
                return Scope.PORTAL_READ
            return scope
    return Scope.MANAGEMENT


def token_for_key(key: str) -> ApiToken:
    """The live token with this key; AuthenticationFailed saying why not."""
    token = ApiToken.objects.select_related("user").filter(key_hash=api_token_hash(key)).first()
    if token is None or not token.user.is_active:
        raise exceptions.AuthenticationFailed(_("Invalid token."), code="token_invalid")
    now = timezone.now()
    if token.revoked_at is not None:
        raise exceptions.AuthenticationFailed(
            _(
                "This token (%(prefix)s…) was revoked on %(date)s; ask the reading center for "
                "a new one."
            )
            % {"prefix": token.prefix, "date": f"{token.revoked_at:%Y-%m-%d}"},
            code="token_revoked",
        )
    if token.expires_at <= now:
        raise exceptions.AuthenticationFailed(
            _("This token (%(prefix)s…) expired on %(date)s; ask the reading center for a new one.")
            % {"prefix": token.prefix, "date": f"{token.expires_at:%Y-%m-%d}"},
            code="token_expired",
        )
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=1):
        # At most one write a minute per token: "last used" is for people, not an audit.
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


class ApiTokenAuthentication(BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                _("Send the header as 'Authorization: Token <key>'."), code="token_invalid"
            )
        try:
            key = parts[1].decode()
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed(
                _("Invalid token."), code="token_invalid"
            ) from exc
        token = token_for_key(key)
        if token.user.language:
            # A hospital system's messages in its user's language; Accept-Language otherwise.
            translation.activate(token.user.language)
            request._request.LANGUAGE_CODE = token.user.language
        return token.user, token

    def authenticate_header(self, request) -> str:
        return self.keyword


class TokenScopes(BasePermission):
    """A call made with a token needs the scope its area of the API asks for."""

    message = gettext_lazy("This API token does not have the scope this call needs.")
    code = "token_scope"

    def has_permission(self, request, view) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return True  # a signed-in session: the role decides
        needed = scope_for(request.method, request.path)
        if covers(token.scopes, needed):
            return True
        self.message = _(
            "This API token (%(prefix)s…) lacks the scope '%(needed)s' this call needs; it "
            "holds %(held)s. Ask the reading center for a token with it."
        ) % {"prefix": token.prefix, "needed": needed, "held": ", ".join(token.scopes)}
        return False
