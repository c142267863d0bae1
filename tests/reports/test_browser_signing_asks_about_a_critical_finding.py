"""In a real browser: the AI flagged a pneumothorax at p=0.99 and the impression says so; the
first click on "Sign" is answered with the critical-finding check, and the report signs only
once the reader marks it critical, which calls the hospital.

Screenshots are kept under the test's folder (or BROWSER_SCREENSHOTS); the run prints where.
"""

from __future__ import annotations

import re

import pytest

from readingcenter.critical.models import CriticalResult
from readingcenter.reports.models import Report
from readingcenter.worklist.models import Case
from tests.browser import (
    log_in,
    needs_chromium,
    screenshots,
    server_password,
    stub_viewer,
)
from tests.factories import make_case
from tests.reports.conftest import PASSWORD, flag_pneumothorax

pytestmark = [pytest.mark.slow, needs_chromium]

IMPRESSION = "Moderate right pneumothorax with mediastinal shift; chest tube placement advised."


@pytest.fixture
def chest_case(hospital_a, radiologist):
    from readingcenter.reports.services import report_templates_load

    report_templates_load()
    server_password(radiologist, PASSWORD)
    case = make_case(hospital_a, modalities=["CR"], body_part_examined="CHEST",
                     study_description="CHEST PA", version=1, patient_name="Lee^Minho")  # fmt: skip
    flag_pneumothorax(case.study)
    return case


def test_a_flagged_pneumothorax_is_called_in_before_the_report_signs(
    live_server_daphne, chest_case, browser, tmp_path
):
    from playwright.sync_api import expect

    url, case, shots = live_server_daphne, chest_case, screenshots(tmp_path)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    stub_viewer(context)
    page = context.new_page()
    try:
        log_in(page, url, "dr.who", PASSWORD, f"/cases/{case.pk}/")
        page.get_by_role("button", name="Claim").click()
        page.locator("select.ai-review").select_option("accepted")
        findings = page.get_by_label("Findings", exact=True)
        findings.fill(
            findings.input_value()
            .replace("Lungs: ", "Lungs: Right lung partially collapsed.")
            .replace("Pleura: ", "Pleura: Right pleural air, 3 cm apical rim.")
        )
        page.get_by_label("Impression", exact=True).fill(IMPRESSION)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign final report").click()

        # Refused: the check names the finding, the AI's flag and the impression's words.
        expect(page.locator(".msg.error")).to_contain_text("Saved, but not signed")
        expect(page.locator(".msg.error")).to_contain_text("pneumothorax (AI flag, impression)")
        check = page.locator("#critical-check")
        expect(check).to_contain_text("cxr-pneumothorax 1.0.0 flagged pneumothorax, p=0.99")
        expect(check).to_contain_text(IMPRESSION)
        assert Report.objects.get(case=case).state == "draft"
        page.screenshot(path=str(shots / "critical-check-asked.png"))

        page.get_by_label("Mark pneumothorax critical").check()
        page.get_by_label("Category of pneumothorax").select_option("minutes")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign final report").click()
        expect(page.locator(".msg.success")).to_have_text(
            "Final report signed and sent to the hospital."
        )
        page.screenshot(path=str(shots / "critical-check-answered.png"))
    except Exception:
        page.screenshot(path=str(shots / "failed-critical-check.png"), full_page=True)
        raise
    report = Report.objects.get(case=case, state="signed")
    assert report.critical_findings == [{"finding": IMPRESSION, "category": "minutes"}]
    assert report.critical_review[0]["decision"] == "critical"
    assert re.match(r"^Lungs: Right lung", report.findings.split("\n", 1)[1])
    assert "Lines and tubes" not in report.findings  # left empty: dropped
    assert CriticalResult.objects.get(report=report).finding == IMPRESSION
    assert Case.objects.get(pk=case.pk).state == "signed"
