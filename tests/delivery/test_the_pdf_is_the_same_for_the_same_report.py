"""A resend carries the same file: the PDF is a function of the signed report alone."""

from __future__ import annotations

from readingcenter.delivery.formats.pdf import render_pdf


def test_the_same_version_renders_the_same_bytes_and_another_version_does_not(report_document):
    first = render_pdf(report_document("final"))
    assert render_pdf(report_document("final")) == first
    assert render_pdf(report_document("amended")) != first
    # The PDF's own dates are the signing time, not the time it was rendered.
    assert b"/CreationDate (D:20250314094653Z)" in first
