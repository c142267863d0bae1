"""What the hospital receives is headed in the report's language: the PDF's headings and labels,
the HL7 notes and the FHIR narrative; the codes (LOINC, HL7 tables) stay as they are.

NEEDS THE COMPILED CATALOGUES (locale/*/LC_MESSAGES/django.mo, `make messages`): without them
every language reads English and ``catalogues`` fails saying so.
"""

from __future__ import annotations

import dataclasses
import logging

import pytest
from django.utils import translation

from readingcenter.delivery import selectors
from readingcenter.delivery.formats.fhir import diagnostic_report
from readingcenter.delivery.formats.hl7v2 import oru_r01
from readingcenter.delivery.formats.pdf import render_pdf
from readingcenter.reports.models import Report
from readingcenter.reports.services import report_templates_load
from tests.delivery.pdf_text import pdf_text
from tests.outbox.conftest import sign_new_report

ENDS = {
    "sending_application": "HANBIT_RC",
    "sending_facility": "HANBIT",
    "receiving_application": "SN_RIS",
    "receiving_facility": "SEOULNORTH",
}


@pytest.fixture
def catalogues():
    """The Korean catalogue is compiled: else these tests would only prove the fallback."""
    with translation.override("ko"):
        if translation.gettext("Electronic signature") == "Electronic signature":
            pytest.fail("The catalogues are not compiled: run `make messages` first.")


def _render_quietly(doc, caplog) -> str:
    """The PDF's text; fpdf2 logs (never raises) a glyph its font lacks, drawn as a box."""
    with caplog.at_level(logging.WARNING, logger="fpdf"):
        data = render_pdf(doc)
    missing = [r.getMessage() for r in caplog.records if "missing" in r.getMessage()]
    assert not missing, missing
    text = pdf_text(data)
    assert "\ufffd" not in text
    return text


def test_a_korean_reports_pdf_has_korean_headings(catalogues, report_document, caplog):
    doc = dataclasses.replace(report_document("final"), language="ko")
    text = _render_quietly(doc, caplog)
    for heading in ("영상 판독 보고서", "최종 보고서", "환자 ID", "접수 번호", "소견", "결론",
                    "위급 소견", "전자 서명", "서명의 의미: 최종 보고서."):  # fmt: skip
        assert heading in text, heading
    for english in ("Findings", "Impression", "Electronic signature", "Patient ID"):
        assert english not in text
    # What the radiologist wrote stays as written.
    assert "좌측 전두엽 경막하 출혈" in text and "Acute left frontal subdural" in text


def test_a_chinese_reports_pdf_has_chinese_headings(catalogues, report_document, caplog):
    doc = dataclasses.replace(report_document("amended"), language="zh-hans")
    text = _render_quietly(doc, caplog)
    for heading in ("影像诊断报告", "补充报告", "原报告", "影像所见", "诊断意见", "电子签名"):
        assert heading in text, heading


def test_an_english_report_and_a_korean_caller_still_get_english(report_document, caplog):
    # The report's language decides, not the language of whoever renders it.
    with translation.override("ko"):
        text = _render_quietly(report_document("final"), caplog)
    for heading in ("Diagnostic imaging report for", "Findings", "Impression",
                    "Electronic signature"):  # fmt: skip
        assert heading in text


def test_the_hl7_notes_and_the_fhir_narrative_follow_the_report_codes_do_not(
    catalogues, report_document
):
    doc = dataclasses.replace(report_document("final"), language="ko")
    message = oru_r01(doc, pdf=None, **ENDS)
    assert "최종 보고서: 예비 보고서(버전 1)를 대체합니다." in message
    assert "위급 결과: Acute subdural hemorrhage" in message
    # LOINC codes and their display names are the standard's, in every language.
    assert "|18748-4^Diagnostic imaging study^LN|" in message
    assert "|59776-5^Procedure findings^LN|" in message
    resource = diagnostic_report(doc, render_pdf(doc))
    assert "소견:" in resource["text"]["div"] and "결론:" in resource["text"]["div"]
    assert resource["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "18748-4",
        "display": "Diagnostic imaging study",
    }


@pytest.mark.django_db
def test_a_korean_hospitals_signed_report_is_delivered_in_korean(
    catalogues, hospital_a, radiologist, caplog
):
    report_templates_load()
    hospital_a.report_language = "ko"
    hospital_a.save(update_fields=["report_language"])
    signed = sign_new_report(hospital_a, radiologist, impression="급성 두개 내 이상 소견 없음.")
    report = Report.objects.select_related("study__order", "hospital", "signed_by", "parent").get(
        pk=signed.pk
    )
    assert report.language == "ko"
    assert selectors.report_document(report).language == "ko"
    selectors._pdf_cache.clear()
    with caplog.at_level(logging.WARNING, logger="fpdf"):
        text = pdf_text(selectors.report_pdf(report))
    assert not [r for r in caplog.records if "missing" in r.getMessage()]
    assert "결론" in text and "전자 서명" in text and "Impression" not in text
