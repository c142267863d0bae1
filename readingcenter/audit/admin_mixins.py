from __future__ import annotations

from django.contrib import admin

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

    def save_formset(self, request, form, formset, change):
        # Inline rows (a radiologist's privileges, say) are writes too.
        super().save_formset(request, form, formset, change)
        for obj in formset.new_objects:
            audit_record(actor=request.user, action=f"{obj._meta.model_name}.create", target=obj,
                         request=request, detail={"via": "admin inline"})  # fmt: skip
        for obj, fields in formset.changed_objects:
            audit_record(actor=request.user, action=f"{obj._meta.model_name}.change", target=obj,
                         request=request, detail={"via": "inline", "fields": fields})  # fmt: skip
        for obj in formset.deleted_objects:
            audit_record(actor=request.user, action=f"{obj._meta.model_name}.delete",
                         target_type=obj._meta.label_lower, target_id=obj.pk or "",
                         request=request, detail={"via": "admin inline"})  # fmt: skip

    def delete_model(self, request, obj):
        target_type, target_id = obj._meta.label_lower, obj.pk
        super().delete_model(request, obj)
        audit_record(actor=request.user, action=f"{obj._meta.model_name}.delete",
                     target_type=target_type, target_id=target_id, request=request,
                     detail={"via": "admin"})  # fmt: skip


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written only by their services (audited there): shown, never edited here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False
