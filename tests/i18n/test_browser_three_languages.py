"""In a real browser, each user in his own language: a Korean hospital user reads a Korean report
and acknowledges its critical result in Korean; a Chinese radiologist scores a peer review in
Chinese; the English manager reads the discrepancy rates in English.

The expected words are taken from the compiled catalogues (gettext under the user's language)
and checked to differ from the English, so the test proves the page was translated without
restating the translation here. Screenshots are kept (BROWSER_SCREENSHOTS, else the tmp folder).
"""

from __future__ import annotations

import pytest
from django.utils import translation

from readingcenter.critical.models import State
from readingcenter.quality.models import PeerReview, PeerReviewPolicy
from readingcenter.reports.services import report_sign
from tests.browser import log_in, needs_chromium, screenshots, server_password
from tests.conftest import _user, grant
from tests.critical.conftest import sign_with_findings
from tests.reports.conftest import PASSWORD, complete

pytestmark = [pytest.mark.slow, needs_chromium]


def said(language: str, message: str, context: str | None = None) -> str:
    """``message`` as the catalogue of ``language`` says it; never the English itself."""
    with translation.override(language):
        text = translation.pgettext(context, message) if context else translation.gettext(message)
    assert text != message, f"no {language} translation of {message!r}: compile the catalogues"
    return text


def test_a_korean_hospital_user_reads_a_korean_report_and_acknowledges_in_korean(
    live_server_daphne, browser, hospital_a, hospital_user_a, radiologist, tmp_path
):
    from playwright.sync_api import expect

    hospital_a.report_language = "ko"
    hospital_a.save(update_fields=["report_language"])
    hospital_user_a.language = "ko"
    hospital_user_a.save(update_fields=["language"])
    report, results = sign_with_findings(
        hospital_a, radiologist, [{"finding": "우측 긴장성 기흉", "category": "minutes"}],
        language="ko", impression="우측 긴장성 기흉. 즉시 흉관 삽입이 필요합니다.",
    )  # fmt: skip
    result = results[0]
    server_password(hospital_user_a, PASSWORD)
    url, shots = live_server_daphne, screenshots(tmp_path)
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    try:
        log_in(page, url, hospital_user_a.username, PASSWORD, then=f"/reports/{report.pk}/")
        expect(page.locator("html")).to_have_attribute("lang", "ko")
        expect(page.locator("header nav")).to_contain_text(said("ko", "Portal"))
        expect(page.locator("main")).to_contain_text(said("ko", "Impression"))
        expect(page.locator("main")).to_contain_text("즉시 흉관 삽입이 필요합니다")
        page.screenshot(path=str(shots / "ko-report.png"), full_page=True)

        page.goto(f"{url}/critical-results/{result.pk}/")
        form = page.locator("#acknowledge-form")
        form.locator("input[name=role]").fill("응급의학과 전문의")
        form.locator("input[name=read_back]").check()
        form.get_by_role("button", name=said("ko", "Acknowledge"), exact=True).click()
        expect(page.locator(".msg")).to_be_visible()
        result.refresh_from_db()
        assert result.state == State.ACKNOWLEDGED
        assert result.acknowledged_by == hospital_user_a
        page.goto(f"{url}/critical-results/{result.pk}/")
        record = page.locator(f"#critical-result-{result.pk}")
        expect(record).to_contain_text(said("ko", "read back and confirmed"))
        expect(record).to_contain_text(
            said("ko", "Acknowledged", "field label: who acknowledged and when")
        )
        page.screenshot(path=str(shots / "ko-critical-acknowledged.png"), full_page=True)
    except Exception:
        page.screenshot(path=str(shots / "failed-ko.png"), full_page=True)
        raise


def test_a_chinese_radiologist_scores_a_peer_review_and_the_english_manager_reads_the_rates(
    live_server_daphne, browser, draft, radiologist, hospital_a, manager, tmp_path
):
    from playwright.sync_api import expect

    PeerReviewPolicy.objects.create(hospital=hospital_a, modality="", share=1.0)
    complete(draft, radiologist)
    final = report_sign(report_id=draft.pk, user=radiologist, password=PASSWORD, kind="final")
    review = PeerReview.objects.get(report=final)
    chen = _user("dr.chen", "radiologist")
    chen.language = "zh-hans"
    chen.save(update_fields=["language"])
    grant(chen, hospital_a)
    manager.language = "en"
    manager.save(update_fields=["language"])
    for who in (chen, manager):
        server_password(who, PASSWORD)
    url, shots = live_server_daphne, screenshots(tmp_path)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    try:
        log_in(page, url, chen.username, PASSWORD, then="/peer-review/")
        expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
        expect(page.locator("h1")).to_have_text(said("zh-hans", "Peer review"))
        row = page.locator(f'tr[data-review="{review.pk}"]')
        row.locator("select[name=score]").select_option("3b")
        row.locator("input[name=comment]").fill("漏诊左侧少量硬膜下血肿。")
        row.get_by_role("button", name=said("zh-hans", "Score", "verb")).click()
        expect(page.locator(f'tr[data-review="{review.pk}"]')).to_have_count(0)
        review.refresh_from_db()
        assert (review.score, review.reviewer, review.comment) == (
            "3b",
            chen,
            "漏诊左侧少量硬膜下血肿。",
        )
        page.screenshot(path=str(shots / "zh-peer-review.png"), full_page=True)
        context.close()

        # The manager chose English: his browser asking for Korean changes nothing.
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ko-KR")
        page = context.new_page()
        log_in(page, url, manager.username, PASSWORD, then="/peer-review/")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        rates = page.locator("main")
        expect(rates).to_contain_text(
            "Discrepancy rates (scores 3a and 3b, with Wilson 95% intervals)"
        )
        expect(rates).to_contain_text("Per reader")
        reader_row = page.locator("tr", has_text=radiologist.username).last
        expect(reader_row).to_contain_text("100 %")
        page.screenshot(path=str(shots / "en-discrepancy-rates.png"), full_page=True)
    except Exception:
        page.screenshot(path=str(shots / "failed-peer-review.png"), full_page=True)
        raise
