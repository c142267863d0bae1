from django.apps import AppConfig


class CriticalConfig(AppConfig):
    name = "readingcenter.critical"
    label = "critical"
    verbose_name = "Critical results"

    def ready(self):
        from readingcenter.critical import subscribers  # noqa: F401 (subscribes to hook points)
