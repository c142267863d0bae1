from django.apps import AppConfig


class PriorsConfig(AppConfig):
    name = "readingcenter.priors"
    label = "priors"
    verbose_name = "Priors from the hospitals' PACS"

    def ready(self) -> None:
        from readingcenter.priors import subscribers  # noqa: F401 - registers the hooks
