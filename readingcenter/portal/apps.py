from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "readingcenter.portal"
    label = "portal"
    verbose_name = "Hospital portal"
