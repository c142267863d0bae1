from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeliveryConfig(AppConfig):
    name = "readingcenter.delivery"
    label = "delivery"
    verbose_name = _("Delivery to hospitals")

    def ready(self):
        from readingcenter.delivery import subscribers  # noqa: F401 (subscribes to hook points)
