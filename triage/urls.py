"""Pages (``urlpatterns``) and the API under /api/v1/ (``api_urlpatterns``).

The model pages themselves (/ai/models/...) are analytics' routes; these sit beside them.
"""

from django.urls import path

from triage import api, views

urlpatterns = [
    path(
        "ai/models/<slug:model_name>/<str:model_version>/<slug:action>/",
        views.model_version_state_change,
        name="ai-model-state",
    ),
]

api_urlpatterns = [
    path("triage/models/", api.ModelVersionListApi.as_view(), name="triage-model-list-api"),
    path(
        "triage/models/<slug:model_name>/<str:model_version>/",
        api.ModelVersionDetailApi.as_view(),
        name="triage-model-detail-api",
    ),
    path(
        "triage/models/<slug:model_name>/<str:model_version>/pause/",
        api.ModelVersionPauseApi.as_view(),
        name="triage-model-pause-api",
    ),
    path(
        "triage/models/<slug:model_name>/<str:model_version>/resume/",
        api.ModelVersionResumeApi.as_view(),
        name="triage-model-resume-api",
    ),
]
