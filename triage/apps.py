from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TriageConfig(AppConfig):
    name = "triage"
    label = "triage"
    verbose_name = _("AI triage")

    def ready(self):
        from triage import subscribers  # noqa: F401 (subscribes to hook points)
