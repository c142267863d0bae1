from django.contrib import admin

from readingcenter.quality.models import AIDisagreement


@admin.register(AIDisagreement)
class AIDisagreementAdmin(admin.ModelAdmin):
    list_display = ("signed_at", "model_name", "model_version", "finding", "kind",
                    "probability", "threshold", "hospital")  # fmt: skip
    list_filter = ("model_name", "model_version", "kind", "hospital")
    readonly_fields = [f.name for f in AIDisagreement._meta.fields]

    def has_add_permission(self, request):
        return False
