from django.contrib import admin

from readingcenter.priors.models import PriorFetch, PriorLookup


class PriorFetchInline(admin.TabularInline):
    model = PriorFetch
    extra = 0
    can_delete = False
    readonly_fields = (
        "study_instance_uid",
        "study_date",
        "study_description",
        "modalities",
        "instances",
        "state",
        "error",
        "requested_at",
        "retrieved_at",
        "seconds",
    )

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(PriorLookup)
class PriorLookupAdmin(admin.ModelAdmin):
    """Each new study's search for priors at its hospital's PACS: what was found and fetched."""

    list_display = ("study", "state", "found", "chosen", "attempts", "error", "finished_at")
    list_filter = ("state",)
    readonly_fields = ("study", "state", "attempts", "error", "found", "chosen", "created_at",
                       "finished_at", "next_try_at")  # fmt: skip
    inlines = [PriorFetchInline]

    def has_add_permission(self, request):
        return False
