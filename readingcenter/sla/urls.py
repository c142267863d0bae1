"""Pages (``urlpatterns``) and the API under /api/v1/ (``api_urlpatterns``)."""

urlpatterns: list = []
api_urlpatterns: list = []
