"""Pages (``urlpatterns``) and the API under /api/v1/ (``api_urlpatterns``)."""

from django.urls import path

from readingcenter.reports import api, views

urlpatterns = [
    path("reports/<int:pk>/", views.report_detail_page, name="report-detail"),
    path("reports/<int:pk>/save/", views.report_save_page, name="report-save"),
    path("reports/<int:pk>/addendum/", views.report_addendum_page, name="report-addendum"),
]

api_urlpatterns = [
    # Opening a case's report is the worklist's address, but a report is this app's to create.
    path("worklist/<int:pk>/report/", api.CaseReportOpenApi.as_view(), name="case-report-open-api"),
    path("reports/", api.ReportListApi.as_view(), name="report-list"),
    path("reports/<int:pk>/", api.ReportDetailApi.as_view(), name="report-api-detail"),
    path("reports/<int:pk>/sign/", api.ReportSignApi.as_view(), name="report-sign-api"),
    path("reports/<int:pk>/addenda/", api.ReportAddendumApi.as_view(), name="report-addendum-api"),
    path("report-templates/", api.TemplateListApi.as_view(), name="report-template-list"),
    path("macros/", api.MacroListApi.as_view(), name="macro-list"),
]
