"""The PDF is the report as the hospital files it: every part a reader looks for, in order."""

from __future__ import annotations

from readingcenter.delivery.formats.pdf import render_pdf
from tests.delivery.conftest import with_ai
from tests.delivery.pdf_text import pdf_text


def _text(doc) -> str:
    return pdf_text(render_pdf(doc))


def test_a_final_report_shows_patient_study_sections_findings_and_signature(report_document):
    doc = report_document("final")
    text = _text(doc)
    for expected in (
        doc.reading_center_name,
        "서울북부병원 Seoul North Hospital",
        "Kim, Jisoo (김지수)",
        "SN00012345",
        "1961-05-02",
        "Female",
        "SN-2025-0001",
        "2025-03-14 17:58",
        "CT HEAD W/O CONTRAST",
        "Park, Minho (朴敏浩)",
        "두통, 구토 (headache, vomiting). 头痛. Fall yesterday.",
        "Delimiters kept as written: A|B ^ C&D ~ E\\F.",
        "급성 경막하 출혈. Acute subdural hemorrhage with mass effect; neurosurgery advised.",
        "CRITICAL: Acute subdural hemorrhage with midline shift (ACR category 1: communicate "
        "within minutes)",
        "intracranial hemorrhage: AI-detected, confirmed by the radiologist",
        "head-ct-ich 1.0.0",
        # Signed 09:46:53 UTC: the hospital reads its own clock, and the zone is named.
        "Signed electronically by Lee Seoyeon, MD (dr.lee) on 2025-03-14 18:46 KST (Asia/Seoul).",
        "Meaning of the signature: final report.",
        f"Content SHA-256: {doc.content_sha256}",
        "Page 1 of",
    ):
        assert expected in text, expected
    order = ["Clinical history", "Technique", "Comparison", "Findings", "Impression"]
    positions = [text.index(f"\n{heading}\n") for heading in order]
    assert positions == sorted(positions)
    assert "PRELIMINARY" not in text
    assert "FINAL REPORT: replaces the preliminary report (version 1)." in text


def test_a_preliminary_report_carries_a_preliminary_banner(report_document):
    text = _text(report_document("preliminary"))
    assert "PRELIMINARY REPORT: not final; a final report will follow." in text
    assert "Meaning of the signature: preliminary report." in text


def test_an_addendum_prints_its_text_first_and_the_original_report_below(report_document):
    doc = report_document("amended")
    text = _text(doc)
    assert "AMENDED REPORT: an addendum to the final report (version 2)." in text
    addendum = text.index(doc.addendum_text)
    assert text.index("ADDENDUM") < addendum < text.index("Original report")
    assert text.index("Original report") < text.index("\nFindings\n")
    assert "Meaning of the signature: addendum." in text


def test_an_ai_finding_the_radiologist_did_not_confirm_says_so(report_document):
    text = _text(with_ai(report_document("final"), confirmed=False))
    assert "intracranial hemorrhage: AI-detected, not confirmed by the radiologist" in text
    assert "confirmed by the radiologist\n" not in text.replace("not confirmed by", "")
