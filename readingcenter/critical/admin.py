from django.contrib import admin

from readingcenter.audit.admin_mixins import ReadOnlyAdmin, ReadOnlyInline
from readingcenter.audit.services import audit_record
from readingcenter.critical.models import CriticalNotification, CriticalResult, HospitalContact


@admin.register(HospitalContact)
class HospitalContactAdmin(admin.ModelAdmin):
    """Managers keep each hospital's escalation list here; every change is audited, since who
    gets told about a critical result is part of the record."""

    list_display = ("hospital", "level", "name", "role", "phone", "email", "user", "is_active")
    list_filter = ("hospital", "level", "is_active")
    search_fields = ("name", "role", "email", "phone")
    ordering = ("hospital__name", "level", "name")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit_record(
            actor=request.user,
            action="critical_contact.change" if change else "critical_contact.create",
            target=obj,
            hospital=obj.hospital_id,
            request=request,
            detail={"changed": form.changed_data, "level": obj.level, "name": obj.name},
        )

    def delete_model(self, request, obj):
        audit_record(actor=request.user, action="critical_contact.delete", target=obj,
                     hospital=obj.hospital_id, request=request,
                     detail={"level": obj.level, "name": obj.name})  # fmt: skip
        super().delete_model(request, obj)


class NotificationInline(ReadOnlyInline):
    model = CriticalNotification
    fields = ("level", "channel", "recipient_name", "recipient", "outcome", "sent_at", "detail")
    readonly_fields = fields


@admin.register(CriticalResult)
class CriticalResultAdmin(ReadOnlyAdmin):
    list_display = ("id", "hospital", "category", "state", "level", "raised_at", "due_at",
                    "acknowledged_at", "acknowledged_by_name")  # fmt: skip
    list_filter = ("state", "category", "hospital")
    search_fields = ("study__accession_number", "study__patient_id", "finding")
    inlines = [NotificationInline]


@admin.register(CriticalNotification)
class CriticalNotificationAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "critical_result", "level", "channel", "recipient", "outcome",
                    "sent_at")  # fmt: skip
    list_filter = ("channel", "outcome")
