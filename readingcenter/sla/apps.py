from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SlaConfig(AppConfig):
    name = "readingcenter.sla"
    label = "sla"
    verbose_name = _("Turnaround promises (SLA)")

    def ready(self):
        from readingcenter.sla import subscribers  # noqa: F401 (subscribes to hook points)
