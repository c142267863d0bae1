from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "readingcenter.reports"
    label = "reports"
    verbose_name = "Reports"

    def ready(self):
        from readingcenter.reports import subscribers  # noqa: F401 (subscribes to hook points)
