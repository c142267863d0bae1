"""Pages (``urlpatterns``) and the API under /api/v1/ (``api_urlpatterns``)."""

from django.urls import path

from readingcenter.sla import api, views

urlpatterns = [
    path("sla/notifications/", views.notifications_page, name="sla-notifications"),
    path("sla/notifications/read/", views.notifications_read, name="sla-notifications-read"),
    path("sla/escalation/", views.escalation_page, name="sla-escalation"),
]

api_urlpatterns = [
    # The one policy endpoint (the worklist's address for it, from before SLA had its own).
    path("sla-policies/", api.PolicyListApi.as_view(), name="sla-policy-list"),
    path("sla/calendars/<slug:code>/", api.CalendarApi.as_view(), name="sla-calendar-api"),
    path(
        "sla/calendars/<slug:code>/closed-dates/",
        api.ClosedDateApi.as_view(),
        name="sla-closed-date-api",
    ),
    path("sla/escalation-tiers/", api.TierListApi.as_view(), name="sla-tier-list-api"),
    path("sla/escalation-tiers/<int:pk>/", api.TierDetailApi.as_view(), name="sla-tier-detail-api"),
    path("sla/escalations/", api.EscalationListApi.as_view(), name="sla-escalation-list-api"),
    path("sla/notifications/", api.NotificationListApi.as_view(), name="sla-notification-list-api"),
    path(
        "sla/notifications/read/",
        api.NotificationReadApi.as_view(),
        name="sla-notification-read-api",
    ),
]
