from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    name = "readingcenter.delivery"
    label = "delivery"
    verbose_name = "Delivery to hospitals"
