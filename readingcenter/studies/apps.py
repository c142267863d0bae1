from django.apps import AppConfig


class StudiesConfig(AppConfig):
    name = "readingcenter.studies"
    label = "studies"
    verbose_name = "Studies"

    def ready(self):
        from readingcenter.studies import subscribers  # noqa: F401 (subscribes to hook points)
