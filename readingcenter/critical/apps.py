from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CriticalConfig(AppConfig):
    name = "readingcenter.critical"
    label = "critical"
    verbose_name = _("Critical results")

    def ready(self):
        from readingcenter.critical import subscribers  # noqa: F401 (subscribes to hook points)
