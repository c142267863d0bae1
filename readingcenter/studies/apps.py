from django.apps import AppConfig


class StudiesConfig(AppConfig):
    name = "readingcenter.studies"
    label = "studies"
    verbose_name = "Studies"
