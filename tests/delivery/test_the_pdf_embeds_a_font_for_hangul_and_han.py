"""Korean and Chinese print and copy out of the PDF: the font travels inside it."""

from __future__ import annotations

import pytest

from readingcenter.delivery.formats import pdf as pdf_format
from readingcenter.delivery.formats.pdf import PdfFontMissing, render_pdf
from tests.delivery.pdf_text import fonts, pdf_text


def test_the_korean_and_chinese_text_is_extractable_from_the_embedded_font(report_document):
    data = render_pdf(report_document("final"))
    assert data.startswith(b"%PDF-")
    # One embedded (subset) font carries every script; no viewer has to substitute one.
    assert [name.split("+", 1)[1] for name in fonts(data)] == ["WenQuanYiZenHei"]
    assert b"/FontFile2" in data
    text = pdf_text(data)
    assert "\ufffd" not in text
    for words in ("김지수", "서울북부병원", "朴敏浩", "头痛", "좌측 전두엽 경막하 출혈"):
        assert words in text


def test_a_missing_font_is_a_clear_error_naming_the_package(report_document, monkeypatch):
    monkeypatch.setattr(pdf_format, "FONT_CANDIDATES", ("/nonexistent/wqy-zenhei.ttc",))
    monkeypatch.delenv("REPORT_PDF_FONT", raising=False)
    with pytest.raises(PdfFontMissing, match="fonts-wqy-zenhei"):
        render_pdf(report_document("final"))
