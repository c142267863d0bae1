from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from readingcenter.audit.admin_mixins import AuditedAdminMixin
from readingcenter.errors import DomainError
from readingcenter.studies.models import Order, PatientMerge, Series, Study, StudyEvent
from readingcenter.studies.services import patients_merge_undo


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


class MergeActionForm(ActionForm):
    reason = forms.CharField(required=False, label=gettext_lazy("Reason (for an undo)"))


@admin.register(PatientMerge)
class PatientMergeAdmin(admin.ModelAdmin):
    """Patient merges the hospitals sent (ADT^A40); a manager can undo one, with a reason."""

    list_display = ["merged_at", "hospital", "old_patient_id", "new_patient_id", "source",
                    "undone_at", "undone_by"]  # fmt: skip
    list_filter = ["hospital"]
    search_fields = ["old_patient_id", "new_patient_id"]
    readonly_fields = [f.name for f in PatientMerge._meta.fields]
    action_form = MergeActionForm
    actions = ["undo"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=gettext_lazy("Undo the selected merges (give a reason)"))
    def undo(self, request, queryset):
        reason = request.POST.get("reason", "")
        for merge in queryset:
            try:
                patients_merge_undo(merge_id=merge.pk, actor=request.user, reason=reason,
                                    request=request)  # fmt: skip
            except DomainError as exc:
                self.message_user(
                    request,
                    _("merge %(id)s: %(message)s") % {"id": merge.pk, "message": exc.message},
                    messages.ERROR,
                )
            else:
                self.message_user(
                    request, _("merge %(id)s undone") % {"id": merge.pk}, messages.SUCCESS
                )
