from django.contrib import admin

from readingcenter.worklist.models import AssignmentDecision, Case


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    """Read-only: cases change through the worklist's services (claims are audited there)."""

    list_display = ("id", "hospital", "state", "priority", "due_at", "claimed_by", "arrived_at")
    list_filter = ("state", "priority", "hospital")
    search_fields = ("study__accession_number", "study__patient_id")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AssignmentDecision)
class AssignmentDecisionAdmin(admin.ModelAdmin):
    list_display = ("at", "case", "kind", "rule", "chosen", "actor")
    list_filter = ("kind",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
