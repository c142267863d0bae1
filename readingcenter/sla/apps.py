from django.apps import AppConfig


class SlaConfig(AppConfig):
    name = "readingcenter.sla"
    label = "sla"
    verbose_name = "Turnaround promises (SLA)"
