from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class QualityConfig(AppConfig):
    name = "readingcenter.quality"
    label = "quality"
    verbose_name = _("Reading quality")

    def ready(self) -> None:
        from readingcenter.quality import subscribers  # noqa: F401 - registers the hooks
