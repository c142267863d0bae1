from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ViewerConfig(AppConfig):
    name = "readingcenter.viewer"
    label = "viewer"
    verbose_name = _("Viewer")
