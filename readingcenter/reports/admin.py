from django.contrib import admin

from readingcenter.audit.admin_mixins import AuditedAdminMixin, ReadOnlyAdmin
from readingcenter.reports.models import Macro, Report, ReportTemplate


@admin.register(ReportTemplate)
class ReportTemplateAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "modality", "body_part", "language", "is_active", "updated_at")
    list_filter = ("modality", "language", "is_active")
    search_fields = ("name",)


@admin.register(Macro)
class MacroAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("code", "language", "owner", "text")
    list_filter = ("language", "owner")
    search_fields = ("code", "text")


@admin.register(Report)
class ReportAdmin(ReadOnlyAdmin):
    """Read-only: reports are written and signed by radiologists, never edited here."""

    list_display = (
        "id",
        "study",
        "hospital",
        "kind",
        "language",
        "state",
        "version_number",
        "signed_by",
        "signed_at",
    )
    list_filter = ("state", "kind", "hospital")
    search_fields = ("study__accession_number", "study__patient_id")
