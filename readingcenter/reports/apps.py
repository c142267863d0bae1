from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    name = "readingcenter.reports"
    label = "reports"
    verbose_name = _("Reports")

    def ready(self):
        from readingcenter.reports import subscribers  # noqa: F401 (subscribes to hook points)
