from django.apps import AppConfig


class WorklistConfig(AppConfig):
    name = "readingcenter.worklist"
    label = "worklist"
    verbose_name = "Worklist"
