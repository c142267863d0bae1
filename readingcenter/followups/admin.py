from django.contrib import admin

from readingcenter.followups.models import FollowUp


@admin.register(FollowUp)
class FollowUpAdmin(admin.ModelAdmin):
    list_display = ("due_date", "hospital", "patient_id", "modality", "state", "sentence")
    list_filter = ("state", "hospital", "modality")
    search_fields = ("patient_id", "sentence")
    readonly_fields = [f.name for f in FollowUp._meta.fields]

    def has_add_permission(self, request):
        return False
