"""Pages (``urlpatterns``) and the API under /api/v1/ (``api_urlpatterns``)."""

from django.urls import path, register_converter

from readingcenter.analytics import api, views


class MonthConverter:
    regex = r"\d{4}-\d{2}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(MonthConverter, "yyyymm")

urlpatterns = [
    path("analytics/", views.analytics_page, name="analytics"),
    path("ai/models/", views.ai_models_page, name="ai-models"),
    path("ai/models/<slug:model_name>/<str:model_version>/", views.ai_model_page, name="ai-model"),
    path("analytics/<slug:table>.csv", views.analytics_csv, name="analytics-csv"),
    path(
        "analytics/sla-report/<slug:code>/<yyyymm:month>.pdf",
        views.sla_report_pdf,
        name="analytics-sla-report-pdf",
    ),
    path(
        "analytics/sla-report/<slug:code>/<yyyymm:month>.csv",
        views.sla_report_csv,
        name="analytics-sla-report-csv",
    ),
]

api_urlpatterns = [
    path("analytics/tat/", api.TatApi.as_view(), name="analytics-tat-api"),
    path("analytics/overview/", api.OverviewApi.as_view(), name="analytics-overview-api"),
    path(
        "analytics/productivity/", api.ProductivityApi.as_view(), name="analytics-productivity-api"
    ),
    path(
        "analytics/ai-performance/",
        api.AiPerformanceApi.as_view(),
        name="analytics-ai-performance-api",
    ),
    path(
        "analytics/sla-report/<slug:code>/<yyyymm:month>/",
        api.SlaReportApi.as_view(),
        name="analytics-sla-report-api",
    ),
]
