from django.contrib import admin

from readingcenter.audit.admin_mixins import AuditedAdminMixin
from readingcenter.delivery.models import Delivery, DeliveryAttempt, DeliveryEndpoint


@admin.register(DeliveryEndpoint)
class DeliveryEndpointAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Managers onboard a hospital's systems here: its PACS, interface engine, FHIR server."""

    list_display = ("hospital", "channel", "name", "target", "is_active")
    list_filter = ("channel", "is_active", "hospital")
    fieldsets = (
        (None, {"fields": ("hospital", "channel", "name", "is_active", "timeout_seconds")}),
        ("DICOM (PACS) and HL7 (MLLP)", {"fields": ("host", "port", "ae_title")}),
        ("HL7", {"fields": ("receiving_application", "receiving_facility")}),
        ("FHIR", {"fields": ("base_url", "auth_token", "verify_tls")}),
    )


class AttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    readonly_fields = (
        "number",
        "started_at",
        "finished_at",
        "succeeded",
        "retryable",
        "error_code",
        "message",
    )
    fields = readonly_fields


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "idempotency_key",
        "hospital",
        "channel",
        "state",
        "attempts",
        "next_attempt_at",
        "delivered_at",
        "last_error_code",
    )
    list_filter = ("state", "channel", "hospital")
    search_fields = ("idempotency_key",)
    inlines = [AttemptInline]
    readonly_fields = [f.name for f in Delivery._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
