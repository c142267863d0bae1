from django.contrib import admin

from triage.models import TriageRun
from triage.registry import loaded_models, model_dirs


@admin.register(TriageRun)
class TriageRunAdmin(admin.ModelAdmin):
    list_display = ["created_at", "study", "study_version", "model_name", "model_version",
                    "status", "flags", "runtime_ms"]  # fmt: skip
    list_filter = ["status", "model_name", "model_version"]
    search_fields = ["study__accession_number", "model_name", "series_instance_uid"]
    readonly_fields = [f.name for f in TriageRun._meta.fields]

    # Runs are immutable (the database refuses changes too): the admin only shows them.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        # Which model packages this process has loaded, and which it refused and why.
        models, errors = loaded_models()
        extra_context = {
            **(extra_context or {}),
            "loaded_models": [m.summary() for m in models],
            "refused_packages": [str(e) for e in errors],
            "model_dirs": [str(d) for d in model_dirs()],
        }
        return super().changelist_view(request, extra_context=extra_context)
