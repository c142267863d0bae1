from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "readingcenter.quality"
    label = "quality"
    verbose_name = "Reading quality"

    def ready(self) -> None:
        from readingcenter.quality import subscribers  # noqa: F401 - registers the hooks
