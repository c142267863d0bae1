from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "readingcenter.demo"
    label = "demo"
    verbose_name = "Demo"
