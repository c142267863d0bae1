from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    name = "readingcenter.delivery"
    label = "delivery"
    verbose_name = "Delivery to hospitals"

    def ready(self):
        from readingcenter.delivery import subscribers  # noqa: F401 (subscribes to hook points)
