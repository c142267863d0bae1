"""Pages (``urlpatterns``) and the API under /api/v1/ (``api_urlpatterns``)."""

from django.urls import path

from readingcenter.ops import api, views

urlpatterns = [
    path("ops/", views.dashboard_page, name="ops-dashboard"),
    path("ops/cases/", views.cases_page, name="ops-cases"),
    path("ops/reads/", views.reads_page, name="ops-reads"),
    path("ops/deliveries/", views.deliveries_page, name="ops-deliveries"),
]
api_urlpatterns = [
    path("ops/dashboard/", api.DashboardApi.as_view(), name="ops-dashboard-api"),
]
