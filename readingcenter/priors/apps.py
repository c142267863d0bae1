from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PriorsConfig(AppConfig):
    name = "readingcenter.priors"
    label = "priors"
    verbose_name = _("Priors from the hospitals' PACS")

    def ready(self) -> None:
        from readingcenter.priors import subscribers  # noqa: F401 - registers the hooks
