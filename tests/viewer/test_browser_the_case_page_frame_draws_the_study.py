"""In a real browser: the viewer framed in the case page draws the case's own study, with the
patient's identity on the page around it and on the image itself, no tour over it, and the
first image of the stack first.

The project runs under daphne against the test database and a real Orthanc, as in production;
the study goes in by C-STORE. Screenshots are kept under the test's folder (or under
BROWSER_SCREENSHOTS=<folder>), and the test prints where.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from readingcenter.studies.models import Study, StudyStatus
from tests.browser import CHROMIUM
from tests.pacs.dicom_files import FLAIR, follow_until
from tests.viewer.dicomweb_helpers import store_study

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is absent: `make setup`"),
    pytest.mark.skipif(
        not (Path(settings.OHIF_DIR) / "index.html").is_file(),
        reason="the OHIF dist is absent: `make setup` installs it",
    ),
]

# The frame's viewport canvas shows an image: a fair number of pixels that are not black.
_LIT_PIXELS = """() => {
  let best = 0;
  for (const canvas of document.querySelectorAll('canvas.cornerstone-canvas')) {
    if (!canvas.width || !canvas.height) continue;
    const context = canvas.getContext('2d');
    if (!context) continue;
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
    let lit = 0;
    for (let i = 0; i < pixels.length; i += 4) {
      if (pixels[i] + pixels[i + 1] + pixels[i + 2] > 60) lit++;
    }
    best = Math.max(best, lit);
  }
  return best;
}"""


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("BROWSER_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots: {folder}")
    return folder


@pytest.fixture
def live_server_daphne(transactional_db, orthanc, tmp_path):
    from tests.browser import daphne_server

    with daphne_server(
        tmp_path,
        timeout=30,
        ORTHANC_URL=settings.ORTHANC_URL,
        ORTHANC_USERNAME=settings.ORTHANC_USERNAME,
        ORTHANC_PASSWORD=settings.ORTHANC_PASSWORD,
        CHANNELS_PREFIX=f"test-browser-{tmp_path.name}",
    ) as url:
        yield url


@pytest.fixture
def mr_case(orthanc, hospital_a, tmp_path):
    """The brain FLAIR series (22 images) from Alpha, complete, its case on the worklist."""
    study = store_study(
        orthanc,
        tmp_path / "dicom",
        aet="ALPHA_CT",
        sources=FLAIR,
        PatientName="Park^Minsoo",
        PatientID="P-7001",
        AccessionNumber="ACC-7001",
        PatientSex="M",
        PatientBirthDate="19490301",
        InstitutionName="Alpha Regional MR",
    )

    def complete():
        """the study is complete and its case open"""
        fresh = Study.objects.get(pk=study.pk)
        return fresh if fresh.status == StudyStatus.COMPLETE and hasattr(fresh, "case") else None

    return follow_until(complete, timeout=40).case


def test_the_embedded_viewer_draws_the_cases_study_with_its_identity(
    live_server_daphne, mr_case, radiologist, browser, shots
):
    from playwright.sync_api import expect

    url, case = live_server_daphne, mr_case
    client = Client()
    client.force_login(radiologist)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": url}])
    page = context.new_page()
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "frame" in m.text.lower() else None)
    page.goto(f"{url}/cases/{case.pk}/")
    try:
        # Our banner over the frame names the patient and the study.
        identity = page.locator("#identity")
        expect(identity).to_contain_text("Park, Minsoo")
        expect(identity).to_contain_text("P-7001")
        expect(identity).to_contain_text("ACC-7001")
        expect(identity).to_contain_text("M 57 y")
        expect(identity).to_contain_text("Alpha Regional")

        frame = page.frame_locator("#viewer")
        viewer = page.frame(url=lambda u: "/ohif/viewer" in u)
        assert viewer is not None, [f.url for f in page.frames]
        viewer.wait_for_function(f"() => ({_LIT_PIXELS})() > 2000", timeout=90_000, polling=500)

        # On the image: who, and which study; the first acquired image first.
        overlay = frame.locator(".viewport-element").first
        expect(frame.locator("[title='Patient name']").first).to_have_text("Park, Minsoo")
        expect(frame.locator("[title='Patient ID']").first).to_contain_text("P-7001")
        expect(frame.locator("[title='Accession number']").first).to_contain_text("ACC-7001")
        expect(frame.locator("[title='Sex and age']").first).to_have_text("M 57 y")
        expect(frame.locator("[title='Institution']").first).to_have_text("Alpha Regional MR")
        expect(frame.locator("[title='Instance Number']").first).to_contain_text("1 (1/22)")
        # No tour and no investigational-use banner over the image.
        expect(frame.get_by_text("Skip all")).to_have_count(0)
        expect(frame.get_by_text("Scrolling Through Images")).to_have_count(0)
        expect(overlay).to_be_visible()
        page.wait_for_timeout(500)
        page.screenshot(path=str(shots / "case-page-viewer-1920.png"))
    except Exception:
        page.screenshot(path=str(shots / "failed-case-page-viewer.png"))
        raise
    assert not [m for m in blocked if "Refused to display" in m], blocked
    lit = viewer.evaluate(_LIT_PIXELS)
    assert lit > 2000, lit
