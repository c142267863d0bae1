"""Every app owns its routes (``urlpatterns`` for pages, ``api_urlpatterns`` under /api/v1/);
this only includes them, in the order a study flows."""

from django.contrib import admin
from django.http import JsonResponse
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from readingcenter.accounts import urls as accounts_urls
from readingcenter.analytics import urls as analytics_urls
from readingcenter.audit import urls as audit_urls
from readingcenter.critical import urls as critical_urls
from readingcenter.delivery import urls as delivery_urls
from readingcenter.hospitals import urls as hospitals_urls
from readingcenter.ops import urls as ops_urls
from readingcenter.portal import urls as portal_urls
from readingcenter.quality import urls as quality_urls
from readingcenter.reports import urls as reports_urls
from readingcenter.sla import urls as sla_urls
from readingcenter.studies import urls as studies_urls
from readingcenter.viewer import urls as viewer_urls
from readingcenter.worklist import urls as worklist_urls
from triage import urls as triage_urls


def healthz(request):
    return JsonResponse({"status": "ok"})


api_v1 = [
    *hospitals_urls.api_urlpatterns,
    *studies_urls.api_urlpatterns,
    *triage_urls.api_urlpatterns,
    *worklist_urls.api_urlpatterns,
    *reports_urls.api_urlpatterns,
    *delivery_urls.api_urlpatterns,
    *critical_urls.api_urlpatterns,
    *quality_urls.api_urlpatterns,
    *sla_urls.api_urlpatterns,
    *analytics_urls.api_urlpatterns,
    *ops_urls.api_urlpatterns,
    *portal_urls.api_urlpatterns,
    *audit_urls.api_urlpatterns,
]

urlpatterns = [
    *accounts_urls.urlpatterns,
    *studies_urls.urlpatterns,
    *triage_urls.urlpatterns,
    *worklist_urls.urlpatterns,
    *quality_urls.urlpatterns,
    *reports_urls.urlpatterns,
    *delivery_urls.urlpatterns,
    *critical_urls.urlpatterns,
    *sla_urls.urlpatterns,
    *analytics_urls.urlpatterns,
    *ops_urls.urlpatterns,
    *portal_urls.urlpatterns,
    *audit_urls.urlpatterns,
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    # Browsers ask for /favicon.ico on every page (and for files that are no pages).
    path(
        "favicon.ico", RedirectView.as_view(url=static("readingcenter/favicon.svg"), permanent=True)
    ),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include(api_v1)),
    *viewer_urls.urlpatterns,
]
