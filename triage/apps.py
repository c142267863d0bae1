from django.apps import AppConfig


class TriageConfig(AppConfig):
    name = "triage"
    label = "triage"
    verbose_name = "AI triage"
