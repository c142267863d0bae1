from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "readingcenter.reports"
    label = "reports"
    verbose_name = "Reports"
