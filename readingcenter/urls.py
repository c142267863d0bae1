from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import JsonResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from readingcenter.analytics import urls as analytics_urls
from readingcenter.audit import urls as audit_urls
from readingcenter.critical import urls as critical_urls
from readingcenter.delivery import views as delivery_views
from readingcenter.hospitals import api as hospitals_api
from readingcenter.ops import urls as ops_urls
from readingcenter.portal import urls as portal_urls
from readingcenter.reports import api as reports_api
from readingcenter.reports import views as reports_views
from readingcenter.sla import urls as sla_urls
from readingcenter.studies import api as studies_api
from readingcenter.studies import views as studies_views
from readingcenter.worklist import api as worklist_api
from readingcenter.worklist import views as worklist_views


def healthz(request):
    return JsonResponse({"status": "ok"})


api_v1 = [
    path("hospitals/", hospitals_api.HospitalListCreateApi.as_view(), name="hospital-list"),
    path("hospitals/<int:pk>/", hospitals_api.HospitalDetailApi.as_view(), name="hospital-detail"),
    path("studies/", studies_api.StudyListApi.as_view(), name="study-list"),
    path("studies/<int:pk>/", studies_api.StudyDetailApi.as_view(), name="study-api-detail"),
    path(
        "studies/<int:pk>/assign-hospital/",
        studies_api.StudyAssignHospitalApi.as_view(),
        name="study-assign-hospital",
    ),
    path("studies/<int:pk>/reject/", studies_api.StudyRejectApi.as_view(), name="study-reject-api"),
    path(
        "studies/<int:pk>/priority/",
        studies_api.StudySetPriorityApi.as_view(),
        name="study-set-priority",
    ),
    path("orders/", studies_api.OrderListCreateApi.as_view(), name="order-list"),
    path("orders/<int:pk>/", studies_api.OrderDetailApi.as_view(), name="order-detail"),
    path("worklist/", worklist_api.WorklistApi.as_view(), name="worklist-api"),
    path("worklist/next/", worklist_api.CaseNextApi.as_view(), name="worklist-next-api"),
    path("worklist/<int:pk>/", worklist_api.CaseDetailApi.as_view(), name="case-api-detail"),
    path("worklist/<int:pk>/claim/", worklist_api.CaseClaimApi.as_view(), name="case-claim-api"),
    path(
        "worklist/<int:pk>/release/", worklist_api.CaseReleaseApi.as_view(), name="case-release-api"
    ),
    path(
        "worklist/<int:pk>/reassign/",
        worklist_api.CaseReassignApi.as_view(),
        name="case-reassign-api",
    ),
    path("worklist/<int:pk>/remove/", worklist_api.CaseRemoveApi.as_view(), name="case-remove-api"),
    path(
        "worklist/<int:pk>/heartbeat/",
        worklist_api.CaseHeartbeatApi.as_view(),
        name="case-heartbeat-api",
    ),
    path(
        "assignment-decisions/",
        worklist_api.AssignmentDecisionListApi.as_view(),
        name="assignment-decision-list",
    ),
    path("radiologists/", worklist_api.RadiologistListApi.as_view(), name="radiologist-list"),
    path("sla-policies/", worklist_api.SlaPolicyListApi.as_view(), name="sla-policy-list"),
    path(
        "worklist/<int:pk>/report/",
        reports_api.CaseReportOpenApi.as_view(),
        name="case-report-open-api",
    ),
    path("reports/", reports_api.ReportListApi.as_view(), name="report-list"),
    path("reports/<int:pk>/", reports_api.ReportDetailApi.as_view(), name="report-api-detail"),
    path("reports/<int:pk>/sign/", reports_api.ReportSignApi.as_view(), name="report-sign-api"),
    path(
        "reports/<int:pk>/addenda/",
        reports_api.ReportAddendumApi.as_view(),
        name="report-addendum-api",
    ),
    path("reports/<int:pk>/pdf/", reports_api.ReportPdfApi.as_view(), name="report-pdf-api"),
    path("report-templates/", reports_api.TemplateListApi.as_view(), name="report-template-list"),
    path("macros/", reports_api.MacroListApi.as_view(), name="macro-list"),
    path("deliveries/", reports_api.DeliveryListApi.as_view(), name="delivery-list"),
    path(
        "deliveries/<int:pk>/retry/",
        reports_api.DeliveryRetryApi.as_view(),
        name="delivery-retry-api",
    ),
    *critical_urls.api_urlpatterns,
    *sla_urls.api_urlpatterns,
    *analytics_urls.api_urlpatterns,
    *ops_urls.api_urlpatterns,
    *portal_urls.api_urlpatterns,
    *audit_urls.api_urlpatterns,
]

urlpatterns = [
    path("", studies_views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("studies/", studies_views.study_board, name="study-board"),
    path("studies/<int:pk>/", studies_views.study_detail, name="study-detail"),
    path("studies/<int:pk>/assign/", studies_views.study_assign, name="study-assign"),
    path("studies/<int:pk>/reject/", studies_views.study_reject, name="study-reject"),
    path("worklist/", worklist_views.worklist_page, name="worklist"),
    path("worklist/next/", worklist_views.next_case, name="worklist-next"),
    path("worklist/assignments/", worklist_views.assignments_page, name="assignments"),
    path("cases/<int:pk>/", worklist_views.case_page, name="case-detail"),
    path("cases/<int:pk>/viewer/", worklist_views.case_viewer, name="case-viewer"),
    path("cases/<int:pk>/claim/", worklist_views.case_claim, name="case-claim"),
    path("cases/<int:pk>/release/", worklist_views.case_release, name="case-release"),
    path("cases/<int:pk>/reassign/", worklist_views.case_reassign, name="case-reassign"),
    path("cases/<int:pk>/remove/", worklist_views.case_remove, name="case-remove"),
    path("reports/<int:pk>/", reports_views.report_detail_page, name="report-detail"),
    path("reports/<int:pk>/save/", reports_views.report_save_page, name="report-save"),
    path("reports/<int:pk>/addendum/", reports_views.report_addendum_page, name="report-addendum"),
    path("reports/<int:pk>/pdf/", reports_views.report_pdf_page, name="report-pdf"),
    path("deliveries/<int:pk>/retry/", delivery_views.delivery_retry_page, name="delivery-retry"),
    *critical_urls.urlpatterns,
    *sla_urls.urlpatterns,
    *analytics_urls.urlpatterns,
    *ops_urls.urlpatterns,
    *portal_urls.urlpatterns,
    *audit_urls.urlpatterns,
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include(api_v1)),
    path("", include("readingcenter.pacs.urls")),
]
