from django.contrib import admin

from readingcenter.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = (
        "at",
        "actor_label",
        "action",
        "outcome",
        "target_type",
        "target_id",
        "ip_address",
    )
    list_filter = ("outcome", "action")
    search_fields = ("actor_label", "action", "target_id", "patient_id")
    date_hierarchy = "at"

    # The trail is append-only: the admin shows it and changes nothing.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
