"""The API under /api/v1/ (``api_urlpatterns``)."""

from django.urls import path

from readingcenter.hospitals import api

api_urlpatterns = [
    path("hospitals/", api.HospitalListCreateApi.as_view(), name="hospital-list"),
    path("hospitals/<int:pk>/", api.HospitalDetailApi.as_view(), name="hospital-detail"),
]
