"""Pages (``urlpatterns``) and the API under /api/v1/ (``api_urlpatterns``)."""

from django.urls import path

from readingcenter.audit import api, views

urlpatterns = [
    path("audit/", views.audit_search_page, name="audit-search"),
    path("audit/export.csv", views.audit_export, name="audit-export"),
]
api_urlpatterns = [
    path("audit-events/", api.AuditEventListApi.as_view(), name="audit-event-list-api"),
]
