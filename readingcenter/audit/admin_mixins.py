from __future__ import annotations

from readingcenter.audit.services import audit_record


class AuditedAdminMixin:
    """Writes made through the Django admin land on the audit trail like any other write."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit_record(
            actor=request.user,
            action=f"{obj._meta.model_name}.{'change' if change else 'create'}",
            target=obj,
            request=request,
            detail={"via": "admin", "fields": sorted(form.changed_data)},
        )

    def delete_model(self, request, obj):
        target_type, target_id = obj._meta.label_lower, obj.pk
        super().delete_model(request, obj)
        audit_record(actor=request.user, action=f"{obj._meta.model_name}.delete",
                     target_type=target_type, target_id=target_id, request=request,
                     detail={"via": "admin"})  # fmt: skip
