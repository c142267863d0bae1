from django.apps import AppConfig


class CriticalConfig(AppConfig):
    name = "readingcenter.critical"
    label = "critical"
    verbose_name = "Critical results"
