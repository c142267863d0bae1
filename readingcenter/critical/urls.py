"""Critical results: pages (``urlpatterns``) and the API under /api/v1/ (``api_urlpatterns``)."""

from django.urls import path

from readingcenter.critical import api, views

urlpatterns = [
    path("critical-results/", views.critical_results_page, name="critical-results"),
    path("critical-results/<int:pk>/", views.critical_result_page, name="critical-result-detail"),
    path(
        "critical-results/<int:pk>/acknowledge/",
        views.critical_result_acknowledge,
        name="critical-result-acknowledge",
    ),
]

api_urlpatterns = [
    path("critical-results/", api.CriticalResultListApi.as_view(), name="critical-result-list-api"),
    path(
        "critical-results/<int:pk>/",
        api.CriticalResultDetailApi.as_view(),
        name="critical-result-detail-api",
    ),
    path(
        "critical-results/<int:pk>/acknowledge/",
        api.CriticalResultAcknowledgeApi.as_view(),
        name="critical-result-acknowledge-api",
    ),
]
