"""Pages (``urlpatterns``) and the API under /api/v1/ (``api_urlpatterns``)."""

from django.urls import path

from readingcenter.studies import api, views

urlpatterns = [
    path("", views.home, name="home"),
    path("studies/", views.study_board, name="study-board"),
    path("studies/<int:pk>/", views.study_detail, name="study-detail"),
    path("studies/<int:pk>/assign/", views.study_assign, name="study-assign"),
    path("studies/<int:pk>/reject/", views.study_reject, name="study-reject"),
]

api_urlpatterns = [
    path("studies/", api.StudyListApi.as_view(), name="study-list"),
    path("studies/<int:pk>/", api.StudyDetailApi.as_view(), name="study-api-detail"),
    path(
        "studies/<int:pk>/assign-hospital/",
        api.StudyAssignHospitalApi.as_view(),
        name="study-assign-hospital",
    ),
    path("studies/<int:pk>/reject/", api.StudyRejectApi.as_view(), name="study-reject-api"),
    path(
        "studies/<int:pk>/priority/", api.StudySetPriorityApi.as_view(), name="study-set-priority"
    ),
    path("orders/", api.OrderListCreateApi.as_view(), name="order-list"),
    path("orders/<int:pk>/", api.OrderDetailApi.as_view(), name="order-detail"),
    path("orders/<int:pk>/cancel/", api.OrderCancelApi.as_view(), name="order-cancel"),
]
