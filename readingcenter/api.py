"""What every API view shares: errors with stable codes, role permissions, audited reads."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import permissions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from readingcenter.audit.models import Outcome
from readingcenter.audit.services import audit_read_record, audit_record
from readingcenter.errors import DomainError


def exception_handler(exc, context):
    """DomainError -> ``{"code", "detail", "field"}`` with its status; the rest as DRF does.

    The message is made text here, in the language active for this response (a lazy message
    translates now); the code stays as raised, the same in every language."""
    if isinstance(exc, DomainError):
        message = str(exc.message)
        body = {"code": exc.code, "detail": message}
        if exc.field:
            body["field"] = exc.field
            body[exc.field] = [message]
        request = context.get("request")
        if request is not None and exc.status_code == 404:
            audit_record(
                actor=request.user,
                action=f"{getattr(context['view'], 'audit_name', 'object')}.read",
                outcome=Outcome.NOT_FOUND,
                target_id=str(context.get("kwargs", {}).get("pk", "")),
                request=request,
            )
        return Response(body, status=exc.status_code)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "code" not in response.data:
        codes = exc.get_codes() if hasattr(exc, "get_codes") else None
        if response.status_code == status.HTTP_400_BAD_REQUEST:
            response.data = {"code": "invalid", **response.data}
        elif isinstance(codes, str):
            response.data["code"] = codes
    return response


class IsManager(permissions.BasePermission):
    message = _("Only reading-center managers may do this.")

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.is_manager)


class AuditedReadMixin:
    """Every read of patient data through the API leaves a line on the audit trail."""

    audit_name = "object"

    def audit_read(self, *, target=None, many: int | None = None, hospital=None, patient_id=""):
        detail = {"query": self.request.query_params.dict()} if many is not None else {}
        if many is not None:
            detail["results"] = many
        audit_read_record(
            actor=self.request.user,
            action=f"{self.audit_name}.{'list' if many is not None else 'read'}",
            target=target,
            target_type="" if target is not None else self.audit_name,
            hospital=hospital,
            patient_id=patient_id,
            request=self.request,
            detail=detail,
        )
