"""In a real browser: claim a flagged head CT, edit the AI draft, sign it, read it as the hospital.

The project runs under daphne against the test database, as in production; Chromium drives the
pages a radiologist and a hospital user see. The OHIF viewer in the case page's iframe is
replaced by a stub (it has its own browser test in tests/pacs/test_viewer.py).

Set BROWSER_SCREENSHOTS=<folder> to keep screenshots of the pages on the way (the case page as
its window shows it, the hospital's pages whole).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from readingcenter.reports.models import Report
from readingcenter.studies.services import order_create
from readingcenter.worklist.models import Case
from tests.browser import (
    log_in,
    needs_chromium,
    server_password,
)
from tests.factories import make_case
from tests.reports.conftest import PASSWORD, flag_ich

AI_SENTENCE = "Findings suggestive of intracranial hemorrhage."
EDITED_SENTENCE = "Acute intraparenchymal hemorrhage in the left parietal lobe, 2.1 cm."
IMPRESSION = (
    "Acute left parietal intraparenchymal hemorrhage without midline shift. "
    "Clinical correlation is recommended."
)
CRITICAL = "Acute left parietal intraparenchymal hemorrhage"
# The head-CT template requires these two headings.
PARENCHYMA = "Hyperdense left parietal hematoma with surrounding edema."
EXTRA_AXIAL = "No extra-axial collection."

pytestmark = [
    pytest.mark.slow,
    needs_chromium,
]


def _log_in(page, url: str, username: str, then: str) -> None:
    log_in(page, url, username, PASSWORD, then)


@pytest.fixture
def flagged_case(hospital_a, radiologist, hospital_user_a):
    """A head CT with a positive AI bleed flag and the hospital's STAT order, unread."""
    from readingcenter.reports.services import report_templates_load

    report_templates_load()
    radiologist.first_name, radiologist.last_name = "Mina", "Park"
    radiologist.save(update_fields=["first_name", "last_name"])
    for user in (radiologist, hospital_user_a):
        server_password(user, PASSWORD)
    case = make_case(
        hospital_a,
        modalities=["CT"],
        body_part_examined="HEAD",
        study_description="CT HEAD WO CONTRAST",
        version=1,
        patient_name="Kim^Jisoo=김^지수",
        patient_id="P-4711",
    )
    flag_ich(case.study)
    order_create(
        hospital=hospital_a,
        actor=hospital_user_a,
        accession_number=case.study.accession_number,
        requested_procedure="CT head without contrast",
        priority="stat",
        clinical_history="Sudden severe headache, vomiting. On warfarin.",
        referring_physician="Dr. Lee (ED)",
        callback_phone="+82 2 555 0100",
    )
    return case


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("BROWSER_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _reader_context(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.route(
        re.compile(r".*/ohif/.*"),
        lambda route: route.fulfill(
            status=200,
            content_type="text/html",
            body="<body style='background:#000;color:#999'>viewer (stubbed)</body>",
        ),
    )
    return context


def test_claim_edit_the_ai_draft_sign_and_read_it_as_the_hospital(
    live_server_daphne, flagged_case, radiologist, browser, shots
):
    url, case, study = live_server_daphne, flagged_case, flagged_case.study
    page = _reader_context(browser).new_page()
    try:
        _read_and_sign(page, url, case, shots)
    except Exception:
        page.screenshot(path=str(shots / "failed-reader.png"), full_page=True)
        raise
    hospital = browser.new_context(viewport={"width": 1280, "height": 900})
    page = hospital.new_page()
    try:
        _read_as_the_hospital(page, hospital, url, study, shots)
    except Exception:
        page.screenshot(path=str(shots / "failed-hospital.png"), full_page=True)
        raise

    # What the pages showed is what was stored, signed and hashed.
    report = Report.objects.get(study=study)
    assert report.state == "signed" and report.kind == "final"
    assert report.signed_by == radiologist and report.version_number == 1
    assert report.signature_name == "Mina Park, MD"
    assert report.content_sha256 == report.compute_sha256() and report.hash_matches
    assert report.impression.rstrip() == IMPRESSION  # as typed, the space after the macro kept
    # The same line breaks whether the text last came by autosave or with the signing post.
    assert report.findings.startswith(f"{EDITED_SENTENCE}\nBrain parenchyma: {PARENCHYMA}")
    # The headings left empty did not reach the hospital.
    assert "Ventricles and sulci" not in report.findings
    assert "\r" not in report.findings
    assert report.ai_review == {"head-ct-ich:ich": "edited"}
    assert report.ai_acceptance[0]["review"] == "edited"
    assert report.critical_findings == [{"finding": CRITICAL, "category": "minutes"}]
    assert Case.objects.get(pk=case.pk).state == "signed"


def _read_and_sign(page, url: str, case, shots: Path) -> None:
    from playwright.sync_api import expect

    _log_in(page, url, "dr.who", "/worklist/")
    row = page.locator(f"tr.case[data-case='{case.pk}']")
    expect(row).to_contain_text("Kim, Jisoo (김지수)")
    expect(row).to_contain_text("AI 0.91")
    row.get_by_role("button", name="Claim").click()
    page.wait_for_url(f"{url}/cases/{case.pk}/")
    expect(page.locator(".msg")).to_have_text("Claimed: the case is yours.")
    expect(page.locator(".case-head")).to_contain_text("Claimed by you")

    # The draft: the head-CT template, the AI's sentence first in the findings, pending.
    editor = page.locator("#report-editor")
    expect(editor.locator("h2")).to_contain_text("CT head without contrast")
    ai = editor.locator(".ai-sentence")
    expect(ai).to_have_count(1)
    expect(ai).to_have_class(re.compile(r"\bpending\b"))
    expect(ai).to_contain_text(AI_SENTENCE)
    expect(ai.locator("select")).to_have_value("pending")
    findings = page.get_by_label("Findings", exact=True)
    technique = page.get_by_label("Technique", exact=True)
    expect(technique).to_have_value(re.compile(r"^Axial CT images of the head"))
    expect(findings).to_have_value(re.compile(rf"^{re.escape(AI_SENTENCE)}\nBrain parenchyma: "))
    # The editor is usable beside the viewer: wide textareas, the sign bar on screen.
    box = findings.bounding_box()
    assert box["width"] >= 480, box
    expect(page.get_by_role("button", name="Sign final report")).to_be_in_viewport()
    expect(page.locator("#viewer")).to_be_in_viewport()
    page.screenshot(path=str(shots / "case-draft.png"))

    # Edit the AI sentence, say so, write the impression with a macro, flag it critical.
    findings.fill(
        findings.input_value()
        .replace(AI_SENTENCE, EDITED_SENTENCE)
        .replace("Brain parenchyma: ", f"Brain parenchyma: {PARENCHYMA}")
        .replace("Extra-axial spaces: ", f"Extra-axial spaces: {EXTRA_AXIAL}")
    )
    ai.locator("select").select_option("edited")
    expect(ai).to_have_class(re.compile(r"\bedited\b"))
    page.get_by_label("Critical finding 1", exact=True).fill(CRITICAL)
    page.get_by_label("Category of critical finding 1", exact=True).select_option("minutes")
    impression = page.get_by_label("Impression", exact=True)
    impression.click()
    impression.press_sequentially(
        "Acute left parietal intraparenchymal hemorrhage without midline shift. .corr"
    )
    expect(impression).to_have_value(re.compile(r"\.corr$"))
    impression.press("Space")  # the code expands as the space is typed
    expect(impression).to_have_value(IMPRESSION + " ")
    status = page.locator("#autosave-status")
    expect(status).to_have_text("unsaved changes")
    expect(status).to_have_text(re.compile(r"^saved · revision \d+"), timeout=20_000)
    revision = int(re.search(r"revision (\d+)", status.inner_text()).group(1))
    assert revision >= 2
    expect(page.locator("#revision")).to_have_value(str(revision))
    page.screenshot(path=str(shots / "case-edited.png"))

    page.get_by_label("Password", exact=True).fill(PASSWORD)
    sign = page.get_by_role("button", name="Sign final report")
    expect(sign).to_be_in_viewport()
    sign.click()
    page.wait_for_url(f"{url}/cases/{case.pk}/")
    signed = "Final report signed and sent to the hospital."
    expect(page.locator(".msg.success")).to_have_text(signed)
    expect(page.locator("#report-editor")).to_have_count(0)
    versions = page.locator(".report-versions")
    expect(versions).to_contain_text("FINAL")
    expect(versions).to_contain_text("Mina Park, MD")
    expect(page.locator(".case-head .state")).to_have_text("Signed")
    page.screenshot(path=str(shots / "case-signed.png"))


def _read_as_the_hospital(page, context, url: str, study, shots: Path) -> None:
    from playwright.sync_api import expect

    _log_in(page, url, "alpha.it", f"/studies/{study.pk}/")
    versions = page.locator(".report-versions")
    expect(versions).to_contain_text("v1")
    expect(versions.locator(".report-status")).to_have_text("FINAL")
    expect(versions).to_contain_text(IMPRESSION)
    expect(versions).to_contain_text("Mina Park, MD")
    page.screenshot(path=str(shots / "study-hospital.png"), full_page=True)

    versions.get_by_role("link", name="open").click()
    page.wait_for_url(re.compile(rf"{re.escape(url)}/reports/\d+/$"))
    expect(page.locator("#report-status")).to_have_text("FINAL")
    expect(page.locator("#impression-text")).to_have_text(IMPRESSION)
    expect(page.locator("#findings-text")).to_contain_text(EDITED_SENTENCE)
    expect(page.locator("#findings-text")).not_to_contain_text(AI_SENTENCE)
    expect(page.locator("#signature")).to_contain_text("Electronically signed by Mina Park, MD")
    expect(page.locator("#signature")).not_to_contain_text("does not match")
    expect(page.locator(".critical-findings")).to_have_text(
        f"{CRITICAL} (Category 1: within minutes)"
    )
    page.screenshot(path=str(shots / "report-hospital.png"), full_page=True)

    pdf_url = page.get_by_role("link", name="Download PDF").get_attribute("href")
    pdf = context.request.get(f"{url}{pdf_url}")
    assert pdf.status == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF-")

    page.get_by_role("link", name="Critical results").click()
    page.wait_for_url(f"{url}/critical-results/")
    row = page.locator("table.critical-results tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(CRITICAL)
    row.get_by_role("link", name="Acknowledge…").click()
    # The acknowledgement page shows what is acknowledged: the impression, the report.
    expect(page.locator("#report-impression")).to_have_text(IMPRESSION)
    expect(page.locator("#report-link")).to_have_text("Final report v1")
    page.get_by_label("Received by").fill("Dr Lee Minho")
    page.get_by_label("Role").fill("ED attending")
    page.get_by_role("checkbox", name=re.compile("Read back")).check()
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.locator(".msg.success")).to_contain_text("escalation stopped")
    expect(page.locator(".critical-record")).to_contain_text("Dr Lee Minho (ED attending)")
    expect(page.locator(".critical-record")).to_contain_text("read back and confirmed")
    page.screenshot(path=str(shots / "critical-hospital.png"), full_page=True)


def test_a_sign_click_while_an_autosave_is_on_its_way_waits_for_it(
    live_server_daphne, flagged_case, browser, shots
):
    """The form posts the revision it holds. An autosave that the server took but whose answer
    has not come back yet must not make that revision stale: the signature would be refused."""
    from playwright.sync_api import expect

    url, case = live_server_daphne, flagged_case
    context = _reader_context(browser)
    held = []

    def hold_the_answer(route):
        if route.request.method != "PATCH":
            return route.fallback()
        held.append((route, route.fetch()))  # the server saved; the browser waits

    context.route(re.compile(r".*/api/v1/reports/\d+/$"), hold_the_answer)
    page = context.new_page()
    try:
        _log_in(page, url, "dr.who", f"/cases/{case.pk}/")
        page.get_by_role("button", name="Claim").click()
        page.locator("select.ai-review").select_option("accepted")
        findings = page.get_by_label("Findings", exact=True)
        findings.fill(
            findings.input_value()
            .replace("Brain parenchyma: ", f"Brain parenchyma: {PARENCHYMA}")
            .replace("Extra-axial spaces: ", f"Extra-axial spaces: {EXTRA_AXIAL}")
        )
        # The AI flagged a bleed the head-CT template lists as critical: signing asks.
        page.get_by_label("Mark intracranial hemorrhage critical").check()
        page.get_by_label("Impression", exact=True).fill("Acute intracranial hemorrhage.")
        expect(page.locator("#autosave-status")).to_have_text("saving…", timeout=10_000)
        deadline = time.monotonic() + 10
        while not held and time.monotonic() < deadline:
            page.wait_for_timeout(100)
        assert held and Report.objects.get(case=case).revision == 2
        expect(page.locator("#revision")).to_have_value("1")

        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign final report").click()
        page.wait_for_timeout(500)
        assert page.url == f"{url}/cases/{case.pk}/"  # nothing posted yet
        assert Report.objects.get(case=case).state == "draft"
        route, answer = held.pop()
        route.fulfill(response=answer)
        expect(page.locator(".msg")).to_have_text("Final report signed and sent to the hospital.")
    except Exception:
        page.screenshot(path=str(shots / "failed-racing-autosave.png"), full_page=True)
        raise
    report = Report.objects.get(case=case)
    assert report.state == "signed" and report.impression == "Acute intracranial hemorrhage."
    assert report.critical_review[0]["decision"] == "critical"
    assert report.hash_matches
