from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PacsConfig(AppConfig):
    name = "readingcenter.pacs"
    label = "pacs"
    verbose_name = _("Pacs")
