from django.urls import path

from readingcenter.quality import api, views

urlpatterns = [
    path("peer-review/", views.peer_review_page, name="peer-review"),
    path("peer-review/<int:pk>/score/", views.peer_review_score, name="peer-review-score-page"),
]

api_urlpatterns = [
    path("peer-reviews/", api.PeerReviewListApi.as_view(), name="peer-review-list-api"),
    path("peer-reviews/request/", api.PeerReviewRequestApi.as_view(), name="peer-review-request"),
    path(
        "peer-reviews/<int:pk>/score/", api.PeerReviewScoreApi.as_view(), name="peer-review-score"
    ),
    path("analytics/peer-review/", api.DiscrepancyRatesApi.as_view(), name="peer-review-rates"),
]
