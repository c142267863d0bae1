from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import JsonResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from readingcenter.hospitals import api as hospitals_api
from readingcenter.studies import api as studies_api
from readingcenter.studies import views as studies_views


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
]

urlpatterns = [
    path("", studies_views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("studies/", studies_views.study_board, name="study-board"),
    path("studies/<int:pk>/", studies_views.study_detail, name="study-detail"),
    path("studies/<int:pk>/assign/", studies_views.study_assign, name="study-assign"),
    path("studies/<int:pk>/reject/", studies_views.study_reject, name="study-reject"),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include(api_v1)),
    path("", include("readingcenter.pacs.urls")),
]
