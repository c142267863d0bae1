from django.contrib import admin

from readingcenter.audit.admin_mixins import AuditedAdminMixin
from readingcenter.studies.models import Order, Series, Study, StudyEvent


class SeriesInline(admin.TabularInline):
    model = Series
    extra = 0
    readonly_fields = [
        "series_instance_uid",
        "series_number",
        "modality",
        "series_description",
        "body_part_examined",
        "instance_count",
        "is_own",
    ]
    can_delete = False


class EventInline(admin.TabularInline):
    model = StudyEvent
    extra = 0
    readonly_fields = ["at", "kind", "change_seq", "detail"]
    can_delete = False


@admin.register(Study)
class StudyAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = [
        "accession_number",
        "patient_name",
        "hospital",
        "status",
        "priority",
        "modalities",
        "instance_count",
        "received_at",
        "completed_at",
    ]
    list_filter = ["status", "priority", "hospital"]
    search_fields = ["accession_number", "patient_id", "patient_name", "study_instance_uid"]
    list_select_related = ["hospital"]
    inlines = [SeriesInline, EventInline]
    # Ingest owns these rows; quarantine decisions go through the audited actions on the page.
    readonly_fields = [f.name for f in Study._meta.fields if f.name not in {"priority"}]


@admin.register(Order)
class OrderAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["accession_number", "hospital", "requested_procedure", "priority", "created_at"]
    list_filter = ["priority", "hospital"]
    search_fields = ["accession_number", "patient_id"]
