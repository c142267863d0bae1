from django.apps import AppConfig


class PacsConfig(AppConfig):
    name = "readingcenter.pacs"
    label = "pacs"
    verbose_name = "Pacs"
