from __future__ import annotations

from readingcenter.audit.services import audit_record


def audit_login(sender, request, user, **kwargs) -> None:
    audit_record(actor=user, action="user.login", target=user, request=request)


def audit_login_failed(sender, credentials, request=None, **kwargs) -> None:
    # The username tried, never the password.
    audit_record(actor="anonymous", action="user.login", outcome="denied", request=request,
                 detail={"username": str(credentials.get("username", ""))[:150]})  # fmt: skip
