from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorklistConfig(AppConfig):
    name = "readingcenter.worklist"
    label = "worklist"
    verbose_name = _("Worklist")

    def ready(self):
        from readingcenter.worklist import subscribers  # noqa: F401 (subscribes to hook points)
