"""Pages (``urlpatterns``) and the API under /api/v1/ (``api_urlpatterns``)."""

from django.urls import path

from readingcenter.delivery import api, views

urlpatterns = [
    # A signed report as PDF: the report's address, but what delivery sends.
    path("reports/<int:pk>/pdf/", views.report_pdf_page, name="report-pdf"),
    path("deliveries/<int:pk>/retry/", views.delivery_retry_page, name="delivery-retry"),
]

api_urlpatterns = [
    path("reports/<int:pk>/pdf/", api.ReportPdfApi.as_view(), name="report-pdf-api"),
    path("deliveries/", api.DeliveryListApi.as_view(), name="delivery-list"),
    path("deliveries/<int:pk>/retry/", api.DeliveryRetryApi.as_view(), name="delivery-retry-api"),
]
