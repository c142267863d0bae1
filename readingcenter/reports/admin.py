from django.contrib import admin

from readingcenter.audit.admin_mixins import AuditedAdminMixin
from readingcenter.reports.models import Macro, Report, ReportTemplate


@admin.register(ReportTemplate)
class ReportTemplateAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "modality", "body_part", "is_active", "updated_at")
    list_filter = ("modality", "is_active")
    search_fields = ("name",)


@admin.register(Macro)
class MacroAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("code", "owner", "text")
    list_filter = ("owner",)
    search_fields = ("code", "text")


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    """Read-only: reports are written and signed by radiologists, never edited here."""

    list_display = (
        "id",
        "study",
        "hospital",
        "kind",
        "state",
        "version_number",
        "signed_by",
        "signed_at",
    )
    list_filter = ("state", "kind", "hospital")
    search_fields = ("study__accession_number", "study__patient_id")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
