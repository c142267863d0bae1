from django.apps import AppConfig


class WorklistConfig(AppConfig):
    name = "readingcenter.worklist"
    label = "worklist"
    verbose_name = "Worklist"

    def ready(self):
        from readingcenter.worklist import subscribers  # noqa: F401 (subscribes to hook points)
