from django.apps import AppConfig


class TriageConfig(AppConfig):
    name = "triage"
    label = "triage"
    verbose_name = "AI triage"

    def ready(self):
        from triage import subscribers  # noqa: F401 (subscribes to hook points)
