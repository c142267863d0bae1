from django.contrib import admin

from readingcenter.analytics.models import RvuWeight
from readingcenter.audit.services import audit_record


@admin.register(RvuWeight)
class RvuWeightAdmin(admin.ModelAdmin):
    """Managers tune the weights here; changes are audited, since they change how readers'
    productivity is measured."""

    list_display = ("modality", "body_part", "procedure", "code", "rvu", "is_active")
    list_filter = ("modality", "is_active")
    search_fields = ("procedure", "code", "body_part")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit_record(
            actor=request.user,
            action="rvu_weight.change" if change else "rvu_weight.create",
            target=obj,
            request=request,
            detail={"changed": form.changed_data, "rvu": str(obj.rvu)},
        )

    def delete_model(self, request, obj):
        audit_record(actor=request.user, action="rvu_weight.delete", target=obj, request=request)
        super().delete_model(request, obj)
