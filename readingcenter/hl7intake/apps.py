from django.apps import AppConfig


class Hl7IntakeConfig(AppConfig):
    name = "readingcenter.hl7intake"
    label = "hl7intake"
    verbose_name = "HL7 intake"
