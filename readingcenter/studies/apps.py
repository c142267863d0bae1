from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StudiesConfig(AppConfig):
    name = "readingcenter.studies"
    label = "studies"
    verbose_name = _("Studies")

    def ready(self):
        from readingcenter.studies import subscribers  # noqa: F401 (subscribes to hook points)
