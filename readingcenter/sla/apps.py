from django.apps import AppConfig


class SlaConfig(AppConfig):
    name = "readingcenter.sla"
    label = "sla"
    verbose_name = "Turnaround promises (SLA)"

    def ready(self):
        from readingcenter.sla import subscribers  # noqa: F401 (subscribes to hook points)
