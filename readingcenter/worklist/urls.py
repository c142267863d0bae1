"""Pages (``urlpatterns``) and the API under /api/v1/ (``api_urlpatterns``)."""

from django.urls import path

from readingcenter.worklist import api, views

urlpatterns = [
    path("worklist/", views.worklist_page, name="worklist"),
    path("worklist/next/", views.next_case, name="worklist-next"),
    path("worklist/assignments/", views.assignments_page, name="assignments"),
    path("cases/<int:pk>/", views.case_page, name="case-detail"),
    path("cases/<int:pk>/viewer/", views.case_viewer, name="case-viewer"),
    path("cases/<int:pk>/claim/", views.case_claim, name="case-claim"),
    path("cases/<int:pk>/release/", views.case_release, name="case-release"),
    path("cases/<int:pk>/reassign/", views.case_reassign, name="case-reassign"),
    path("cases/<int:pk>/remove/", views.case_remove, name="case-remove"),
]

api_urlpatterns = [
    path("worklist/", api.WorklistApi.as_view(), name="worklist-api"),
    path("worklist/next/", api.CaseNextApi.as_view(), name="worklist-next-api"),
    path("worklist/<int:pk>/", api.CaseDetailApi.as_view(), name="case-api-detail"),
    path("worklist/<int:pk>/claim/", api.CaseClaimApi.as_view(), name="case-claim-api"),
    path("worklist/<int:pk>/release/", api.CaseReleaseApi.as_view(), name="case-release-api"),
    path("worklist/<int:pk>/reassign/", api.CaseReassignApi.as_view(), name="case-reassign-api"),
    path("worklist/<int:pk>/remove/", api.CaseRemoveApi.as_view(), name="case-remove-api"),
    path("worklist/<int:pk>/heartbeat/", api.CaseHeartbeatApi.as_view(), name="case-heartbeat-api"),
    path(
        "assignment-decisions/",
        api.AssignmentDecisionListApi.as_view(),
        name="assignment-decision-list",
    ),
    path("radiologists/", api.RadiologistListApi.as_view(), name="radiologist-list"),
]
