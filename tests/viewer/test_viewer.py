"""The OHIF viewer, served by us under /ohif/ for logged-in users, configured for our proxy."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.viewer.dicomweb_helpers import body

DIST = Path(settings.OHIF_DIR)
pytestmark = pytest.mark.skipif(
    not (DIST / "index.html").is_file(),
    reason=f"the OHIF dist is absent from {DIST}: `make setup` installs it (npm @ohif/app)",
)


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _config(response) -> dict:
    text = response.content.decode()
    return json.loads(re.search(r"window\.config = (\{.*?\n\});", text, re.S).group(1))


def _one(pattern: str) -> Path:
    (path,) = DIST.glob(pattern)
    return path


def test_the_viewer_link_opens_index_html_for_a_logged_in_user(radiologist):
    url = reverse("viewer") + "?StudyInstanceUIDs=1.2.3"
    assert url == "/ohif/viewer?StudyInstanceUIDs=1.2.3"
    response = logged_in(radiologist).get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response["Cache-Control"] == "no-store"
    html = response.content.decode()
    # The dist is built for the site root; served under /ohif/, every root link carries it.
    app_bundle = _one("app.bundle.*.js").name
    assert f'src="/ohif/{app_bundle}"' in html
    assert 'src="/ohif/app-config.js"' in html
    assert 'href="/ohif/app.bundle.css"' in html
    assert 'window.PUBLIC_URL="/ohif/"' in html
    assert not re.search(r'(?:src|href)="/(?!ohif/)', html)


def test_an_anonymous_visitor_is_sent_to_log_in_and_back(db):
    response = Client().get("/ohif/viewer?StudyInstanceUIDs=1.2.3")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/ohif/viewer%3FStudyInstanceUIDs%3D1.2.3"
    for path in ("/ohif/", "/ohif/app-config.js", f"/ohif/{_one('app.bundle.*.js').name}"):
        assert Client().get(path).status_code == 302, path


def test_the_viewers_own_routes_get_index_html_and_missing_files_404(radiologist):
    client = logged_in(radiologist)
    for path in ("/ohif/", "/ohif/viewer/dicomweb", "/ohif/segmentation", "/ohif/x/1.2.840.3"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert b'window.PUBLIC_URL="/ohif/"' in response.content
    assert client.get("/ohif/no-such-bundle.js").status_code == 404
    assert client.get("/ohif/assets/../../../manage.py").status_code == 404
    assert client.get("/ohif/%2e%2e/%2e%2e/pyproject.toml").status_code == 404


def test_app_config_points_the_viewer_at_our_proxy_and_nothing_else(radiologist):
    response = logged_in(radiologist).get("/ohif/app-config.js")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript; charset=utf-8"
    config = _config(response)
    assert config["routerBasename"] == "/ohif"
    assert config["extensions"] == [] and config["modes"] == []
    assert config["showStudyList"] is False
    assert config["investigationalUseDialog"] == {"option": "never"}
    (source,) = config["dataSources"]
    assert source["namespace"] == "@ohif/extension-default.dataSourcesModule.dicomweb"
    assert config["defaultDataSourceName"] == source["sourceName"]
    configuration = source["configuration"]
    for key in ("qidoRoot", "wadoRoot", "wadoUriRoot"):
        assert configuration[key] == "/dicom-web"
    assert configuration["imageRendering"] == configuration["thumbnailRendering"] == "wadors"
    # Orthanc's address never reaches the browser.
    assert settings.ORTHANC_URL not in response.content.decode()
    assert "httpErrorHandler" in response.content.decode()


def test_the_dists_own_app_config_is_never_served(radiologist):
    client = logged_in(radiologist)
    theirs = (DIST / "app-config.js").read_bytes()
    assert b"cloudfront.net" in theirs  # a public demo server
    ours = client.get("/ohif//app-config.js")
    assert _config(ours)["dataSources"][0]["configuration"]["qidoRoot"] == "/dicom-web"
    for path in ("/ohif/./app-config.js", "/ohif/assets/../app-config.js"):
        assert client.get(path).status_code == 404


def test_bundles_load_their_chunks_from_under_the_prefix_and_are_cached_for_good(radiologist):
    client = logged_in(radiologist)
    app_bundle = _one("app.bundle.*.js").name
    response = client.get(f"/ohif/{app_bundle}")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript; charset=utf-8"
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    served = body(response)
    assert b'__webpack_require__.p = "/ohif/";' in served
    assert b'__webpack_require__.p = "/";' not in served
    css = client.get("/ohif/app.bundle.css")
    assert b"url(/ohif/" in body(css)
    assert b"url(/" not in body(css).replace(b"url(/ohif/", b"")


def test_wasm_is_served_as_application_wasm_streamed_from_disk(radiologist):
    wasm = max(DIST.glob("*.wasm"), key=lambda p: p.stat().st_size)
    response = logged_in(radiologist).get(f"/ohif/{wasm.name}")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/wasm"
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.streaming
    assert int(response["Content-Length"]) == wasm.stat().st_size
    assert body(response) == wasm.read_bytes()


def test_an_unhashed_file_is_revalidated_and_answers_304_when_unchanged(radiologist):
    client = logged_in(radiologist)
    unhashed = _one("init-service-worker.js").name
    response = client.get(f"/ohif/{unhashed}")
    assert response["Cache-Control"] == "no-cache"
    again = client.get(f"/ohif/{unhashed}", HTTP_IF_MODIFIED_SINCE=response["Last-Modified"])
    assert again.status_code == 304


def test_without_the_dist_the_viewer_says_how_to_install_it(radiologist, settings, tmp_path):
    settings.OHIF_DIR = tmp_path / "absent"
    response = logged_in(radiologist).get("/ohif/viewer?StudyInstanceUIDs=1.2.3")
    assert response.status_code == 503
    assert b"make setup" in response.content


# -- in a real browser ------------------------------------------------------------------------


# True once a viewport's canvas shows an image (a fair number of pixels that are not black).
_IMAGE_SHOWN = """() => {
  for (const canvas of document.querySelectorAll('canvas.cornerstone-canvas')) {
    if (!canvas.width || !canvas.height) continue;
    const context = canvas.getContext('2d');
    if (!context) continue;
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
    let lit = 0;
    for (let i = 0; i < pixels.length; i += 4) {
      if (pixels[i] + pixels[i + 1] + pixels[i + 2] > 60) lit++;
    }
    if (lit > 2000) return true;
  }
  return false;
}"""


@pytest.fixture
def live_server_daphne(transactional_db, orthanc, tmp_path):
    """The project under daphne, as in production, on the test database and Orthanc."""
    from tests.browser import daphne_server

    with daphne_server(
        tmp_path,
        timeout=30,
        ORTHANC_URL=settings.ORTHANC_URL,
        ORTHANC_USERNAME=settings.ORTHANC_USERNAME,
        ORTHANC_PASSWORD=settings.ORTHANC_PASSWORD,
    ) as url:
        yield url


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is absent: `make setup`")
def test_a_radiologist_sees_the_study_in_ohif_through_the_proxy_alone(
    live_server_daphne, orthanc, hospital_a, radiologist, tmp_path
):
    from playwright.sync_api import sync_playwright

    from readingcenter.audit.models import AuditEvent
    from tests.viewer.dicomweb_helpers import store_study

    study = store_study(orthanc, tmp_path / "dicom", aet="ALPHA_CT")
    client = Client()
    client.force_login(radiologist)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    requested: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            context.add_cookies(
                [{"name": settings.SESSION_COOKIE_NAME, "value": session,
                  "url": live_server_daphne}]
            )  # fmt: skip
            page = context.new_page()
            page.on("request", lambda request: requested.append(request.url))
            page.goto(
                f"{live_server_daphne}{reverse('viewer')}"
                f"?StudyInstanceUIDs={study.study_instance_uid}"
            )
            try:
                page.wait_for_function(_IMAGE_SHOWN, timeout=60_000, polling=500)
            except Exception:
                page.screenshot(path=str(tmp_path / "viewer.png"))
                raise
        finally:
            browser.close()
    # Everything came from us: the bundles under /ohif/, the images through /dicom-web/.
    foreign = [u for u in requested if not u.startswith((live_server_daphne, "data:", "blob:"))]
    assert foreign == []
    assert any("/dicom-web/studies/" in u and "/frames/" in u for u in requested)
    assert not any(u.startswith(f"{live_server_daphne}/app.bundle") for u in requested)
    opened = AuditEvent.objects.filter(action="study.images.open", actor=radiologist)
    assert list(opened.values_list("target_id", flat=True)) == [str(study.pk)]


def test_only_our_own_pages_may_frame_the_viewer(radiologist):
    client = logged_in(radiologist)
    for path in ("/ohif/viewer?StudyInstanceUIDs=1.2.3", "/ohif/", "/ohif/viewer/dicomweb"):
        response = client.get(path)
        assert response["X-Frame-Options"] == "SAMEORIGIN", path
        assert response["Content-Security-Policy"] == "frame-ancestors 'self'", path
    # Every other page stays unframeable.
    assert client.get("/worklist/")["X-Frame-Options"] == "DENY"


def test_the_config_script_draws_identity_and_drops_the_tour(radiologist):
    script = logged_in(radiologist).get("/ohif/app-config.js").content.decode()
    assert "'ohif.tours': {$set: []}" in script
    assert "defaultSortFunctionName: 'sortByInstanceNumber'" in script
    for attribute in ("PatientName", "PatientID", "AccessionNumber", "PatientSex", "PatientAge",
                      "InstitutionName"):  # fmt: skip
        assert f".{attribute}" in script, attribute
    assert '"patient_id": "Patient ID"' in script
    assert settings.READING_CENTER_NAME in script
