from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class Hl7IntakeConfig(AppConfig):
    name = "readingcenter.hl7intake"
    label = "hl7intake"
    verbose_name = _("HL7 intake")
