"""Serving the OHIF viewer's prebuilt dist under our own prefix, same origin as the proxy.

The npm package's dist is built for the site root: index.html links ``/app.bundle.<hash>.js``
and sets ``window.PUBLIC_URL = "/"``, webpack's runtime loads chunks, workers and wasm from
``__webpack_require__.p = "/"`` (compiled into the app bundle and a few worker bundles), and
app.bundle.css takes its font from ``url(/...)``. Our own pages own the root, so the viewer
lives under ``/ohif/``: those few files go out with the prefix written in (computed once per
process and file), everything else as it is on disk. OHIF's router takes its base from the
config's ``routerBasename``, so ``/ohif/viewer?StudyInstanceUIDs=...`` is its ``/viewer`` route;
a path without an extension that is not a file is one of its routes and gets index.html.

app-config.js is ours, not the dist's: our DICOMweb proxy is the only data source, and there
is no study list (the worklist decides who reads what).
"""

from __future__ import annotations

import json
import mimetypes
import re
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpResponse, HttpResponseNotModified
from django.shortcuts import resolve_url
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.http import http_date
from django.utils.translation import gettext as _
from django.views.static import was_modified_since

from readingcenter.errors import DomainError
from readingcenter.pacs.streams import file_response

INDEX = "index.html"
CONFIG = "app-config.js"
# A file name's extension (a trailing ".3" of a UID in a route is not one).
_EXTENSION = re.compile(r"\.[A-Za-z][A-Za-z0-9]{0,7}$")
# Hashed names (app.bundle.0f6159c501addfe9.js, 0ddf166f7a343eda.wasm) never change content.
_HASHED = re.compile(r"(?:^|\.)[0-9a-f]{16,}\.[a-z0-9]+$")
IMMUTABLE = "public, max-age=31536000, immutable"
# Everything else may change with the next install: the browser asks again (and gets a 304).
REVALIDATE = "no-cache"
_TYPES = {
    ".wasm": "application/wasm",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".jsonc": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".woff2": "font/woff2",
}
# Root-relative links in index.html (and silent-refresh.html): href="/...", src="/...",
# content="/..." (a tile image); never protocol-relative "//host".
_HTML_ROOT_LINK = re.compile(rb'(\s(?:href|src|content)=")/(?!/)')


class ViewerNotInstalled(DomainError):
    def __init__(self):
        super().__init__(
            "viewer_not_installed",
            f"The OHIF viewer is not installed in {settings.OHIF_DIR}: run `make setup`.",
            status=503,
        )


def is_installed() -> bool:
    return (Path(settings.OHIF_DIR) / INDEX).is_file()


def prefix() -> str:
    """Where the viewer is served, e.g. ``/ohif/`` (with any script prefix in front)."""
    return reverse("ohif", kwargs={"path": ""})


def _with_prefix(suffix: str, data: bytes, prefix: bytes) -> bytes:
    if suffix == ".html":
        data = _HTML_ROOT_LINK.sub(lambda m: m.group(1) + prefix, data)
        return data.replace(b'window.PUBLIC_URL="/"', b'window.PUBLIC_URL="' + prefix + b'"')
    if suffix == ".js":
        # webpack's public path: where chunks, workers and wasm files are fetched from.
        return data.replace(
            b'__webpack_require__.p = "/";', b'__webpack_require__.p = "' + prefix + b'";'
        )
    if suffix == ".css":
        return data.replace(b"url(/", b"url(" + prefix)
    if suffix == ".json":
        # manifest.json's icons.
        return data.replace(b'"src": "/', b'"src": "' + prefix)
    return data


@lru_cache(maxsize=256)
def _prefixed(path: str, mtime_ns: int, size: int, prefix: str) -> bytes | None:
    """The file with the prefix written in, or None when it has no root-relative links.

    Keyed by modification time and size, so a reinstalled dist is read again. Only a handful
    of files change (about 18 MB, nearly all the app bundle); for the rest only None is kept.
    """
    suffix = Path(path).suffix
    if suffix not in {".html", ".js", ".css", ".json"}:
        return None
    data = Path(path).read_bytes()
    changed = _with_prefix(suffix, data, prefix.encode())
    return changed if changed != data else None


def _locate(relative: str) -> Path | None:
    """The file under the dist for a URL path, or None; never anything outside the dist."""
    root = Path(settings.OHIF_DIR).resolve()
    parts = [p for p in relative.split("/") if p]
    if any(p in {".", ".."} or "\\" in p or "\x00" in p for p in parts):
        return None
    candidate = root.joinpath(*parts).resolve() if parts else root
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    return candidate


def _content_type(path: Path) -> str:
    known = _TYPES.get(path.suffix.lower())
    if known:
        return known
    guessed, encoding = mimetypes.guess_type(path.name)
    # A .gz is served as the bytes it is, never as something the browser should unpack.
    return "application/octet-stream" if encoding or not guessed else guessed


def serve(request, relative: str) -> HttpResponse:
    """A file of the dist, or index.html for the viewer's own routes."""
    if not is_installed():
        raise ViewerNotInstalled
    path = _locate(relative)
    if path is None:
        # A missing file is a 404; a path without an extension is one of OHIF's routes.
        if _EXTENSION.search(relative.rsplit("/", 1)[-1]):
            raise Http404(_("No such file in the viewer."))
        return index(request)
    root = Path(settings.OHIF_DIR).resolve()
    if path == root / INDEX:
        return index(request)
    if path == root / CONFIG:
        # However the path is spelled (/ohif//app-config.js), the dist's own never goes out.
        return app_config_script(request)
    stat = path.stat()
    cache_control = IMMUTABLE if _HASHED.search(path.name) else REVALIDATE
    if cache_control == REVALIDATE and not was_modified_since(
        request.headers.get("If-Modified-Since"), stat.st_mtime
    ):
        return HttpResponseNotModified()
    changed = _prefixed(str(path), stat.st_mtime_ns, stat.st_size, prefix())
    if changed is not None:
        response = HttpResponse(changed, content_type=_content_type(path))
    else:
        response = file_response(path, content_type=_content_type(path))
    response["Cache-Control"] = cache_control
    response["Last-Modified"] = http_date(stat.st_mtime)
    return response


def index(request) -> HttpResponse:
    """index.html with our prefix: links, PUBLIC_URL, and our app-config.js."""
    if not is_installed():
        raise ViewerNotInstalled
    path = Path(settings.OHIF_DIR) / INDEX
    stat = path.stat()
    html = _prefixed(str(path), stat.st_mtime_ns, stat.st_size, prefix())
    response = HttpResponse(html or path.read_bytes(), content_type=_TYPES[".html"])
    # The page is the door to patient images: always asked again, so a logout closes it.
    response["Cache-Control"] = "no-store"
    return response


def app_config(request) -> dict:
    """OHIF's window.config: our proxy as its one data source, no study list, no banner.

    The template adds what JSON cannot say (functions): the identity overlay on every image,
    no onboarding tour, stacks in InstanceNumber order, our name in place of OHIF's logo.
    """
    dicomweb = reverse("dicomweb", kwargs={"path": ""}).rstrip("/")
    return {
        "name": "readingcenter",
        # OHIF's router runs under our prefix: /ohif/viewer is its /viewer.
        "routerBasename": prefix().rstrip("/"),
        # Both keys present and empty: the bundle already registers the default extensions
        # and modes; without the keys the page stays blank.
        "extensions": [],
        "modes": [],
        # Set by the config script (functions: the identity overlay, no tour, first image
        # first); see templates/viewer/ohif-app-config.js.
        # A study list would list every study Orthanc holds that QIDO lets through, beside
        # the worklist that decides who reads what; studies open from our pages only.
        "showStudyList": False,
        "investigationalUseDialog": {"option": "never"},
        "maxNumberOfWebWorkers": 3,
        "showWarningMessageForCrossOrigin": False,
        "showCPUFallbackMessage": True,
        "showLoadingIndicator": True,
        "strictZSpacingForVolumeViewport": True,
        "maxNumRequests": {"interaction": 100, "thumbnail": 5, "prefetch": 25},
        "defaultDataSourceName": "readingcenter",
        "dataSources": [
            {
                "namespace": "@ohif/extension-default.dataSourcesModule.dicomweb",
                "sourceName": "readingcenter",
                "configuration": {
                    "friendlyName": "Reading center",
                    "name": "readingcenter",
                    # Same origin: the session cookie goes along, Orthanc stays unseen.
                    "qidoRoot": dicomweb,
                    "wadoRoot": dicomweb,
                    "wadoUriRoot": dicomweb,
                    "qidoSupportsIncludeField": False,
                    # Orthanc has no /thumbnail: thumbnails are rendered from frames too.
                    "imageRendering": "wadors",
                    "thumbnailRendering": "wadors",
                    "enableStudyLazyLoad": True,
                    "supportsFuzzyMatching": False,
                    "supportsWildcard": True,
                    "dicomUploadEnabled": False,
                    "omitQuotationForMultipartRequest": True,
                    "bulkDataURI": {"enabled": True, "relativeResolution": "studies"},
                },
            }
        ],
    }


def overlay_labels() -> dict:
    """The words of the identity overlay the config script draws on every image."""
    return {
        "brand": settings.READING_CENTER_NAME,
        "patient_name": _("Patient name"),
        "patient_id": _("Patient ID"),
        "patient_id_short": _("ID"),
        "sex_age": _("Sex and age"),
        "accession": _("Accession number"),
        "accession_short": _("Acc"),
        "institution": _("Institution"),
        "study": _("Study"),
        "series": _("Series"),
    }


# The viewer's language (i18next codes of OHIF's bundled catalogues) for ours. OHIF 3.13 ships
# Chinese ("zh") but no Korean: "ko" falls back to OHIF's English, while our own overlay labels
# (overlay_labels) are Korean.
OHIF_LANGUAGES = {"en": "en-US", "ko": "ko", "zh-hans": "zh"}


def app_config_script(request) -> HttpResponse:
    if not is_installed():
        raise ViewerNotInstalled
    script = render_to_string(
        "viewer/ohif-app-config.js",
        {
            "config_json": json.dumps(app_config(request), indent=2),
            "login_url_json": json.dumps(resolve_url(settings.LOGIN_URL)),
            # Inside a script: "<" escaped so that no value ends it.
            "labels_json": json.dumps(overlay_labels(), ensure_ascii=False).replace("<", "\\u003c"),
            "language_json": json.dumps(
                OHIF_LANGUAGES.get(translation.get_language() or "", "en-US")
            ),
        },
        request=request,
    )
    response = HttpResponse(script, content_type=_TYPES[".js"])
    response["Cache-Control"] = "no-cache"
    return response
