from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from readingcenter.audit.admin_mixins import AuditedAdminMixin
from readingcenter.hospitals.models import (
    Hospital,
    HospitalAETitle,
    HospitalHL7Facility,
    HospitalPACS,
)


class AETitleInline(admin.TabularInline):
    model = HospitalAETitle
    extra = 1


class HL7FacilityInline(admin.TabularInline):
    model = HospitalHL7Facility
    extra = 0


class PACSInline(admin.StackedInline):
    """The hospital's PACS and its rules for relevant priors (managers edit them)."""

    model = HospitalPACS
    extra = 0


@admin.register(Hospital)
class HospitalAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "code",
        "ae_title_list",
        "time_zone",
        "report_language",
        "auto_assign_stat",
        "is_active",
    )
    search_fields = ("name", "code", "ae_titles__ae_title")
    list_editable = ("auto_assign_stat",)
    inlines = [AETitleInline, HL7FacilityInline, PACSInline]

    @admin.display(description=_("AE titles"))
    def ae_title_list(self, obj: Hospital) -> str:
        return ", ".join(t.ae_title for t in obj.ae_titles.all())
