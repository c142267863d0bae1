"""Writes about accounts: sign-in failures, lockout and unlocking, the second factor, tokens.

After ``SIGN_IN_MAX_FAILURES`` failed sign-ins for one username within
``SIGN_IN_FAILURE_WINDOW_MINUTES``, that username is locked for ``SIGN_IN_LOCK_MINUTES``
from the last failure, whatever password comes next: guessing a radiologist's password costs
hours, not seconds. Unknown usernames are counted the same way, so the answer never tells
whether an account exists. A manager can unlock at once (admin); all of it is audited.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from readingcenter.accounts.models import SCOPES_FOR_ROLE, ApiToken, Scope, SignInFailure
from readingcenter.accounts.selectors import second_factor_device
from readingcenter.audit.services import audit_record
from readingcenter.errors import DomainError


def _client_address(request) -> str | None:
    return request.META.get("REMOTE_ADDR") if request is not None else None


def sign_in_locked_until(username: str) -> dt.datetime | None:
    """When the lock on ``username`` ends, or None when it is not locked."""
    now = timezone.now()
    window = dt.timedelta(minutes=settings.SIGN_IN_FAILURE_WINDOW_MINUTES)
    recent = list(
        SignInFailure.objects.filter(username__iexact=username, at__gte=now - window)
        .order_by("-at")
        .values_list("at", flat=True)[: settings.SIGN_IN_MAX_FAILURES]
    )
    if len(recent) < settings.SIGN_IN_MAX_FAILURES:
        return None
    until = recent[0] + dt.timedelta(minutes=settings.SIGN_IN_LOCK_MINUTES)
    return until if until > now else None


def sign_in_failed(username: str, request=None) -> dt.datetime | None:
    """Record a failed sign-in; returns the end of the lock when this failure locks it."""
    username = username[:150]
    was_locked = sign_in_locked_until(username) is not None
    SignInFailure.objects.create(username=username, address=_client_address(request))
    until = sign_in_locked_until(username)
    if until is not None and not was_locked:
        audit_record(
            actor="anonymous",
            action="user.locked",
            outcome="denied",
            request=request,
            target_type="accounts.user",
            target_id=username,
            detail={
                "username": username,
                "failures": settings.SIGN_IN_MAX_FAILURES,
                "until": until.isoformat(),
            },
        )
    return until


def sign_in_succeeded(username: str) -> None:
    """A good sign-in clears the failures that led up to it."""
    SignInFailure.objects.filter(username__iexact=username).delete()


def sign_in_unlock(username: str, *, actor) -> int:
    """A manager lifts the lock; returns how many failures were cleared."""
    cleared, _ = SignInFailure.objects.filter(username__iexact=username).delete()
    audit_record(
        actor=actor,
        action="user.unlock",
        target_type="accounts.user",
        target_id=username,
        detail={"username": username, "failures_cleared": cleared},
    )
    return cleared


# -- the second factor (TOTP) -------------------------------------------------------------------


def second_factor_enrolment(user) -> TOTPDevice:
    """The device a user is enrolling (created unconfirmed on first use)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
    return device


def second_factor_verify(request, user, token: str) -> bool:
    """Check a code against the user's device (confirming one being enrolled); audited.

    A wrong code counts as a failed sign-in: guessing six digits meets the same lockout as
    guessing a password.
    """
    token = "".join(token.split())
    device = second_factor_device(user)
    enrolling = device is None
    if enrolling:
        device = second_factor_enrolment(user)
    if not (token.isdigit() and device.verify_token(token)):
        audit_record(actor=user, action="user.second_factor", outcome="denied", target=user,
                     request=request, detail={"enrolling": enrolling})  # fmt: skip
        sign_in_failed(user.get_username(), request)
        return False
    if enrolling:
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        audit_record(actor=user, action="user.second_factor_enrolled", target=user, request=request)
    otp_login(request, device)
    audit_record(actor=user, action="user.second_factor", target=user, request=request)
    sign_in_succeeded(user.get_username())
    return True


def second_factor_reset(user, *, actor) -> int:
    """A manager removes a user's devices (a lost phone): the user enrolls again next time."""
    removed, _ = TOTPDevice.objects.filter(user=user).delete()
    audit_record(actor=actor, action="user.second_factor_reset", target=user,
                 detail={"devices_removed": removed})  # fmt: skip
    return removed


# -- API tokens -----------------------------------------------------------------------------------


class TokenError(ValueError):
    """A token that cannot be made as asked (a scope the user's role may not hold, ...)."""


def api_token_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_create(user, *, name: str, scopes, days: int, actor) -> tuple[ApiToken, str]:
    """Make a token; returns it and its key (shown once: only its hash is kept)."""
    scopes = sorted({str(s) for s in scopes})
    allowed = {str(s) for s in SCOPES_FOR_ROLE.get(user.role, set())}
    if user.is_superuser:
        allowed = {str(s) for s in Scope}
    refused = [s for s in scopes if s not in allowed]
    if not scopes or refused:
        raise TokenError(
            _("a %(role)s token may hold %(allowed)s; asked for %(refused)s")
            % {
                "role": user.get_role_display().lower(),
                "allowed": ", ".join(sorted(allowed)),
                "refused": ", ".join(refused) or _("no scope"),
            }
        )
    if not 1 <= days <= settings.API_TOKEN_MAX_DAYS:
        raise TokenError(
            _("a token lives 1 to %(max)s days, not %(days)s")
            % {"max": settings.API_TOKEN_MAX_DAYS, "days": days}
        )
    prefix = secrets.token_hex(4)
    key = f"rc_{prefix}_{secrets.token_urlsafe(30)}"
    token = ApiToken.objects.create(
        prefix=prefix,
        key_hash=api_token_hash(key),
        user=user,
        name=name[:100],
        scopes=scopes,
        created_by=actor if getattr(actor, "pk", None) else None,
        expires_at=timezone.now() + dt.timedelta(days=days),
    )
    audit_record(actor=actor, action="api_token.create", target=token, hospital=user.hospital,
                 detail={"prefix": prefix, "user": user.username, "scopes": scopes,
                         "expires_at": token.expires_at.isoformat()})  # fmt: skip
    return token, key


def api_token_revoke(token: ApiToken, *, actor) -> bool:
    """Revoke at once (the next call with it gets 401); False when it already was."""
    now = timezone.now()
    revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=now, revoked_by=actor if getattr(actor, "pk", None) else None
    )
    if revoked:
        audit_record(actor=actor, action="api_token.revoke", target=token,
                     hospital=token.user.hospital, detail={"prefix": token.prefix})  # fmt: skip
    return bool(revoked)


def user_language_set(user, *, language: str, request=None) -> None:
    """The user's interface language from now on, on every device ("" = the browser's)."""
    if language and language not in dict(settings.LANGUAGES):
        raise DomainError(
            "invalid_language",
            _("Choose one of: %(languages)s.")
            % {"languages": ", ".join(name for _code, name in settings.LANGUAGES)},
            field="language",
        )
    if user.language == language:
        return
    before = user.language
    user.language = language
    user.save(update_fields=["language"])
    audit_record(
        actor=user,
        action="user.language",
        target=user,
        request=request,
        detail={"from": before, "to": language},
    )
