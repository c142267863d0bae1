from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "readingcenter.audit"
    label = "audit"
    verbose_name = "Audit"
