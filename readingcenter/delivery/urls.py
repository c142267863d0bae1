"""Pages (``urlpatterns``) and the API under /api/v1/ (``api_urlpatterns``)."""

from django.urls import path

from readingcenter.delivery import views
from readingcenter.reports import api

urlpatterns = [
    path("deliveries/<int:pk>/retry/", views.delivery_retry_page, name="delivery-retry"),
]

api_urlpatterns = [
    path("deliveries/", api.DeliveryListApi.as_view(), name="delivery-list"),
    path("deliveries/<int:pk>/retry/", api.DeliveryRetryApi.as_view(), name="delivery-retry-api"),
]
