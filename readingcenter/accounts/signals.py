from __future__ import annotations

from readingcenter.accounts.services import sign_in_failed, sign_in_succeeded
from readingcenter.audit.services import audit_record


def audit_login(sender, request, user, **kwargs) -> None:
    audit_record(actor=user, action="user.login", target=user, request=request)
    sign_in_succeeded(user.get_username())


def audit_login_failed(sender, credentials, request=None, **kwargs) -> None:
    # The username tried, never the password.
    audit_record(actor="anonymous", action="user.login", outcome="denied", request=request,
                 detail={"username": str(credentials.get("username", ""))[:150]})  # fmt: skip
    sign_in_failed(str(credentials.get("username", "")), request)
