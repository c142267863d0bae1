"""In a real browser at 1280x800 and 1920x1080: the worklist's rows do not wrap their badges
and clocks, and on the case page the text being written is never under the sign bar while the
viewer stays in sight. Screenshots of each page at each size are kept under the test's folder
(or BROWSER_SCREENSHOTS); the run prints where."""

from __future__ import annotations

import pytest
from django.db import transaction

from readingcenter.worklist.services import case_claim, case_sync_from_study
from tests.browser import (
    log_in,
    needs_chromium,
    screenshots,
    server_password,
    stub_viewer,
)
from tests.factories import make_case
from tests.reports.conftest import PASSWORD, flag_ich

pytestmark = [pytest.mark.slow, needs_chromium]

SIZES = [(1280, 800), (1920, 1080)]

# Whether an element's text wraps: a wrapped inline element has several line boxes.
_WRAPPED = (
    "(elements) => elements.filter(e => e.getClientRects().length > 1).map(e => e.textContent)"
)
# Whether the point at the middle of the element shows the element itself (nothing over it).
_UNCOVERED = """(element) => {
  const box = element.getBoundingClientRect();
  const x = box.left + box.width / 2;
  return [box.top + 8, box.bottom - 8].every(y => {
    const hit = document.elementFromPoint(x, y);
    return hit === element || element.contains(hit);
  });
}"""


@pytest.fixture
def queue(hospital_a, hospital_b, radiologist):
    from readingcenter.reports.services import report_templates_load

    report_templates_load()
    server_password(radiologist, PASSWORD)
    cases = []
    for i in range(8):
        case = make_case(
            (hospital_a, hospital_b)[i % 2],
            priority=("stat", "urgent", "routine")[i % 3],
            modalities=["CT"],
            body_part_examined="HEAD",
            study_description="CT HEAD WITHOUT CONTRAST, TRAUMA PROTOCOL WITH CERVICAL SPINE",
            patient_name="Vanderberg-Kowalczyk^Alexandra Maria=김^지수",
            version=1,
            completed_minutes_ago=10 + 7 * i,
        )
        flag_ich(case.study, probability=0.5 + i / 20)
        with transaction.atomic():
            cases.append(case_sync_from_study(case.study))  # the AI columns follow the run
    case_claim(case_id=cases[0].pk, user=radiologist)
    return cases


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_the_worklist_and_the_case_page_fit_the_screen(
    live_server_daphne, queue, browser, tmp_path, width, height
):
    from playwright.sync_api import expect

    url, shots = live_server_daphne, screenshots(tmp_path)
    context = browser.new_context(viewport={"width": width, "height": height})
    stub_viewer(context)
    page = context.new_page()
    try:
        log_in(page, url, "dr.who", PASSWORD, "/worklist/")
        assert page.locator("header.top").bounding_box()["height"] <= 60
        rows = page.locator("table.worklist tr.case")
        expect(rows).to_have_count(8)
        expect(page.locator("table.worklist .badge", has_text="AI 0.")).to_have_count(8)
        for selector in (".badge", ".clock"):
            wrapped = page.locator(f"table.worklist {selector}").evaluate_all(_WRAPPED)
            assert wrapped == [], (selector, wrapped)
        # No sideways scrolling.
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(shots / f"worklist-{width}x{height}.png"))

        page.goto(f"{url}/cases/{queue[0].pk}/")
        findings = page.get_by_label("Findings", exact=True)
        findings.click()
        findings.press("End")
        expect(findings).to_be_focused()
        assert findings.evaluate(_UNCOVERED), "the sign bar covers the findings"
        impression = page.get_by_label("Impression", exact=True)
        impression.click()
        assert impression.evaluate(_UNCOVERED), "the sign bar covers the impression"
        expect(page.get_by_role("button", name="Sign final report")).to_be_in_viewport()
        viewer = page.locator("#viewer").bounding_box()
        assert viewer["width"] >= 0.5 * width and viewer["height"] >= 0.6 * height, viewer
        assert viewer["y"] + viewer["height"] <= height + 1  # the whole frame on screen
        expect(page.locator("#identity")).to_be_in_viewport()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(shots / f"case-{width}x{height}.png"))
    except Exception:
        page.screenshot(path=str(shots / f"failed-layout-{width}x{height}.png"))
        raise
