"""In a real browser, by keyboard only: "Next case" from the worklist, the shortcut help, the
AI's sentence accepted then rejected, the report signed with Ctrl+Shift+Enter and the password,
and the next case opened at once.

Screenshots are kept under the test's folder (or BROWSER_SCREENSHOTS); the run prints where.
"""

from __future__ import annotations

import re

import pytest

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
from tests.reports.conftest import PASSWORD, flag_ich

pytestmark = [pytest.mark.slow, needs_chromium]


@pytest.fixture
def two_head_cts(hospital_a, radiologist):
    from readingcenter.reports.services import report_templates_load

    report_templates_load()
    server_password(radiologist, PASSWORD)
    stat = make_case(hospital_a, priority="stat", modalities=["CT"], body_part_examined="HEAD",
                     study_description="CT HEAD WO", version=1, completed_minutes_ago=20,
                     patient_name="Kim^Jisoo")  # fmt: skip
    flag_ich(stat.study)
    routine = make_case(hospital_a, modalities=["CT"], body_part_examined="HEAD",
                        study_description="CT HEAD WO", version=1, completed_minutes_ago=60,
                        patient_name="Choi^Yuna")  # fmt: skip
    return stat, routine


def test_a_case_is_read_signed_and_followed_by_the_next_from_the_keyboard(
    live_server_daphne, two_head_cts, radiologist, browser, tmp_path
):
    from playwright.sync_api import expect

    url, (stat, routine), shots = live_server_daphne, two_head_cts, screenshots(tmp_path)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    stub_viewer(context)
    page = context.new_page()
    try:
        log_in(page, url, "dr.who", PASSWORD, "/worklist/")
        page.keyboard.press("Alt+n")  # the STAT case first
        page.wait_for_url(f"{url}/cases/{stat.pk}/")

        # The help lists what the keys do on this page.
        page.keyboard.press("?")
        help_dialog = page.locator("#shortcut-help")
        expect(help_dialog).to_be_visible()
        for words in ("Alt+N", "Next case", "Alt+A", "Accept the focused AI sentence",
                      "Ctrl+Enter", "Sign the final report", "Alt+Shift+R"):  # fmt: skip
            expect(help_dialog).to_contain_text(words)
        page.screenshot(path=str(shots / "keyboard-help.png"))
        page.keyboard.press("Escape")
        expect(help_dialog).to_be_hidden()

        # The AI's sentence: accepted, then rejected (which takes it out of the findings).
        review = page.locator("select.ai-review")
        page.keyboard.press("Alt+j")
        expect(page.locator(".ai-sentence")).to_be_focused()
        page.keyboard.press("Alt+a")
        expect(review).to_have_value("accepted")
        page.keyboard.press("Alt+r")
        expect(review).to_have_value("rejected")
        findings = page.get_by_label("Findings", exact=True)
        expect(findings).not_to_have_value(re.compile("suggestive of intracranial"))

        findings.fill(
            findings.input_value()
            .replace("Brain parenchyma: ", "Brain parenchyma: Normal gray-white differentiation.")
            .replace("Extra-axial spaces: ", "Extra-axial spaces: No collection.")
        )
        impression = page.get_by_label("Impression", exact=True)
        impression.click()
        impression.type("No acute intracranial abnormality.")
        # Sign and next: Ctrl+Shift+Enter goes to the password, Enter signs.
        page.keyboard.press("Control+Shift+Enter")
        expect(page.locator("#sign-password")).to_be_focused()
        expect(page.locator("#sign-hint")).to_have_text("Type your password, then Enter to sign.")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{url}/cases/{routine.pk}/")
        expect(page.locator(".msg.success")).to_have_text(
            "Final report signed and sent to the hospital."
        )
        expect(page.locator(".case-head")).to_contain_text("Choi, Yuna")
        page.screenshot(path=str(shots / "keyboard-next-case.png"))

        # Release by keyboard: the case goes back to the pool.
        page.keyboard.press("Alt+Shift+r")
        expect(page.locator(".msg.success")).to_have_text("Released to the pool.")
    except Exception:
        page.screenshot(path=str(shots / "failed-keyboard.png"), full_page=True)
        raise
    signed = Report.objects.get(case=stat, state="signed")
    assert signed.impression == "No acute intracranial abnormality."
    assert signed.ai_review == {"head-ct-ich:ich": "rejected"}
    assert Case.objects.get(pk=stat.pk).state == "signed"
    assert Case.objects.get(pk=routine.pk).state == "unread"
