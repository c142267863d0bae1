from django.apps import AppConfig


class HospitalsConfig(AppConfig):
    name = "readingcenter.hospitals"
    label = "hospitals"
    verbose_name = "Hospitals"
