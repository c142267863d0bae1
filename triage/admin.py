from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from readingcenter.errors import DomainError
from triage import services
from triage.models import ModelAlarm, ModelVersion, ModelVersionChange, TriageRun
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


class ReasonForm(forms.Form):
    _selected_action = forms.CharField(widget=forms.MultipleHiddenInput)
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=2000,
        help_text=gettext_lazy("Why: it goes on the version's history and the audit trail."),
    )


def _change_state(modeladmin, request, queryset, *, action: str, change, done, title):
    """An admin action that asks why first (an intermediate page), then calls the service
    once per selected version; a refused one (already paused, not a manager) says why."""
    if "apply" in request.POST:
        form = ReasonForm(request.POST)
        if form.is_valid():
            changed = 0
            for row in queryset:
                try:
                    change(model_name=row.model_name, model_version=row.model_version,
                           actor=request.user, reason=form.cleaned_data["reason"],
                           request=request)  # fmt: skip
                    changed += 1
                except DomainError as exc:
                    modeladmin.message_user(
                        request,
                        _("%(version)s: %(message)s") % {"version": row, "message": exc.message},
                        messages.ERROR,
                    )
            if changed:
                modeladmin.message_user(
                    request, _("%(done)s: %(count)s version(s).") % {"done": done, "count": changed}
                )
            return None
    else:
        form = ReasonForm(initial={"_selected_action": request.POST.getlist(ACTION_CHECKBOX_NAME)})
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "opts": modeladmin.model._meta,
        "form": form,
        "versions": list(queryset),
        "action": f"{action}_versions",
        "verb": action,
    }
    return TemplateResponse(request, "admin/triage/modelversion/state_change.html", context)


class ModelVersionChangeInline(admin.TabularInline):
    model = ModelVersionChange
    fields = ["at", "state", "actor_label", "reason", "queued"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    """Pause and resume are actions (each asks why, and goes through the service: audited,
    and a resume queues the waiting studies); nothing else of a version is edited here."""

    list_display = ["model_name", "model_version", "state", "state_changed_at", "first_seen_at",
                    "last_seen_at", "page"]  # fmt: skip
    list_filter = ["state", "model_name"]
    readonly_fields = ["model_name", "model_version", "weights_sha256", "state",
                       "state_changed_at", "first_seen_at", "last_seen_at", "card"]  # fmt: skip
    inlines = [ModelVersionChangeInline]
    actions = ["pause_versions", "resume_versions"]

    @admin.display(description=gettext_lazy("Model page"))
    def page(self, obj):
        url = reverse("ai-model", args=[obj.model_name, obj.model_version])
        return format_html('<a href="{}">{}</a>', url, _("monitoring, alarms, card"))

    @admin.action(description=gettext_lazy("Pause the selected versions (they run nothing)"))
    def pause_versions(self, request, queryset):
        return _change_state(self, request, queryset, action="pause",
                             change=services.model_version_pause,
                             done=pgettext("model versions", "Paused"),
                             title=_("Pause model versions"))  # fmt: skip

    @admin.action(
        description=gettext_lazy("Resume the selected versions (queues their waiting studies)")
    )
    def resume_versions(self, request, queryset):
        return _change_state(self, request, queryset, action="resume",
                             change=services.model_version_resume,
                             done=pgettext("model versions", "Resumed"),
                             title=_("Resume model versions"))  # fmt: skip

    def has_add_permission(self, request):
        return False  # a worker registers what it loads

    def has_delete_permission(self, request, obj=None):
        return False  # runs and alarms point at it


@admin.register(ModelAlarm)
class ModelAlarmAdmin(admin.ModelAdmin):
    list_display = ["fired_at", "model_version", "window", "kind", "studies", "positives", "rate"]
    list_filter = ["kind", "window", "model_version__model_name"]
    readonly_fields = [f.name for f in ModelAlarm._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
