"""The viewer's pages and its DICOMweb: thin views over the viewer and dicomweb modules."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from readingcenter.viewer import dicomweb, viewer


def _not_installed(exc: viewer.ViewerNotInstalled) -> HttpResponse:
    return HttpResponse(exc.message, status=exc.status_code, content_type="text/plain")


def framed_by_our_pages(view):
    """The viewer is read inside the case page's frame: our own pages (same origin) may frame
    it, nobody else may. Every other page keeps the site-wide ``X-Frame-Options: DENY``.

    Both headers, because browsers that know CSP's ``frame-ancestors`` ignore X-Frame-Options
    and the others read only X-Frame-Options. XFrameOptionsMiddleware leaves a response that
    already carries the header as it is.
    """

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response["X-Frame-Options"] = "SAMEORIGIN"
        response["Content-Security-Policy"] = "frame-ancestors 'self'"
        return response

    return wrapped


# Everything under the viewer's prefix needs a login: the pages lead to patient images, and
# the bundles cost nothing more to guard (the middleware loads the user on every request).
@framed_by_our_pages
@login_required
@require_safe
def ohif(request, path: str = ""):
    try:
        return viewer.serve(request, path)
    except viewer.ViewerNotInstalled as exc:
        return _not_installed(exc)


@framed_by_our_pages
@login_required
@require_safe
def ohif_viewer(request):
    try:
        return viewer.index(request)
    except viewer.ViewerNotInstalled as exc:
        return _not_installed(exc)


@login_required
@require_safe
def ohif_app_config(request):
    try:
        return viewer.app_config_script(request)
    except viewer.ViewerNotInstalled as exc:
        return _not_installed(exc)


# Exempt from CSRF because it never changes anything: it refuses every method but GET and
# HEAD (with its own 405), which CSRF checks would otherwise answer first with an HTML 403.
@csrf_exempt
async def dicomweb_proxy(request, path: str):
    return await dicomweb.handle(request, path)
