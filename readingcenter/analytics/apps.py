from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "readingcenter.analytics"
    label = "analytics"
    verbose_name = "Turnaround analytics"
