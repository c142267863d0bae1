"""Pages (``urlpatterns``) and the API under /api/v1/ (``api_urlpatterns``)."""

from django.urls import path

from readingcenter.portal import api, views

urlpatterns = [
    path("portal/", views.portal_page, name="portal"),
    path("portal/orders/", views.orders_page, name="portal-orders"),
    path("portal/follow-ups/", views.followups_page, name="portal-followups"),
    path("portal/studies.csv", views.export_csv, name="portal-export"),
]
api_urlpatterns = [
    path("portal/studies/", api.PortalStudyListApi.as_view(), name="portal-study-list-api"),
    path("portal/follow-ups/", api.PortalFollowUpListApi.as_view(), name="portal-followup-api"),
    path("portal/studies/<int:pk>/", api.PortalStudyDetailApi.as_view(), name="portal-study-api"),
]
