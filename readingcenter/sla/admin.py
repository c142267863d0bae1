from django.contrib import admin

from readingcenter.audit.admin_mixins import AuditedAdminMixin
from readingcenter.sla.models import SlaPolicy


@admin.register(SlaPolicy)
class SlaPolicyAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("hospital", "priority", "target_minutes", "at_risk_percent", "updated_at")
    list_filter = ("hospital", "priority")

    def save_model(self, request, obj, form, change):
        # Through the service, so the open cases' deadlines move with the promise.
        from readingcenter.sla.services import sla_policy_set

        sla_policy_set(
            hospital=obj.hospital,
            priority=obj.priority,
            target_minutes=obj.target_minutes,
            at_risk_percent=obj.at_risk_percent,
            actor=request.user,
            request=request,
        )
