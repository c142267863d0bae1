from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "readingcenter.ops"
    label = "ops"
    verbose_name = "Operations dashboard"
