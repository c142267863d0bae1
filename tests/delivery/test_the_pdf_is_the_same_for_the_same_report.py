"""A resend carries the same file: the PDF is a function of the signed report alone."""

from __future__ import annotations

from readingcenter.delivery.formats.pdf import render_pdf


def test_the_same_version_renders_the_same_bytes_and_another_version_does_not(report_document):
    first = render_pdf(report_document("final"))
    assert render_pdf(report_document("final")) == first
    assert render_pdf(report_document("amended")) != first
    # The PDF's own dates are the signing time, not the time it was rendered.
    assert b"/CreationDate (D:20250314094653Z)" in first


def test_the_font_read_once_per_process_gives_the_bytes_of_a_fresh_add_font(
    report_document, monkeypatch
):
    # The font is parsed once and shared by the documents (pdf._add_report_font); each must
    # still come out exactly as with fpdf2's own add_font, in whatever order they are made.
    from readingcenter.delivery.formats import pdf as pdf_format

    documents = [
        report_document("final"),
        report_document("amended"),
        report_document("preliminary", impression="头痛. 좌측 경막하 출혈. Ω ∑ → é ß ñ"),
        report_document("final", findings="Latin only, and what the font lacks: 😀 𠀀."),
    ]
    shared = [render_pdf(doc) for doc in documents] + [render_pdf(documents[0])]

    def fresh(pdf):
        pdf.add_font(pdf_format.FONT, fname=str(pdf_format.font_path()), collection_font_number=0)

    monkeypatch.setattr(pdf_format, "_add_report_font", fresh)
    fresh_bytes = [render_pdf(doc) for doc in documents[::-1]][::-1]
    assert [*fresh_bytes, shared[0]] == shared
