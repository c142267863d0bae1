"""Both DICOM objects are valid for their IODs, and dcmtk reads the SR's tree back."""

from __future__ import annotations

import shutil

import pytest

from readingcenter.delivery.formats.dicom_objects import encapsulated_pdf, structured_report
from readingcenter.delivery.formats.pdf import render_pdf
from tests.delivery.conftest import needs_dciodvfy
from tests.delivery.dicom_checks import dciodvfy_errors, dciodvfy_warnings, dsrdump

STATUSES = ["preliminary", "final", "amended"]


@needs_dciodvfy
@pytest.mark.parametrize("status", STATUSES)
def test_the_sr_and_the_encapsulated_pdf_have_no_dciodvfy_errors_or_warnings(
    report_document, status, tmp_path
):
    doc = report_document(status)
    for name, ds in (
        ("sr", structured_report(doc)),
        ("pdf", encapsulated_pdf(doc, render_pdf(doc))),
    ):
        path = tmp_path / f"{name}.dcm"
        ds.save_as(path, enforce_file_format=True)
        assert dciodvfy_errors(path) == [], name
        assert dciodvfy_warnings(path) == [], name


@pytest.mark.skipif(shutil.which("dsrdump") is None, reason="dcmtk not installed")
@pytest.mark.parametrize("status", STATUSES)
def test_dsrdump_reads_the_sections_the_ai_finding_and_the_flags(report_document, status, tmp_path):
    doc = report_document(status)
    path = tmp_path / "sr.dcm"
    structured_report(doc).save_as(path, enforce_file_format=True)
    dump = dsrdump(path)
    assert "Comprehensive SR Document" in dump
    assert "Kim^Jisoo=김^지수" in dump
    assert '(,,"Diagnostic Imaging Report")' in dump
    for heading in ("Clinical Information", "Findings", "Impressions"):
        assert f'CONTAINER:(,,"{heading}")' in dump
    assert "Communication of Critical Results" in dump
    assert '(1386000,SCT,"Intracranial hemorrhage")' in dump
    assert '(,,"Algorithm Name")="head-ct-ich"' in dump
    assert '(,,"Algorithm Version")="1.0.0"' in dump
    assert '(,,"Probability")="0.934"' in dump
    assert '(,,"Person Observer Name")="Lee Seoyeon, MD^"' in dump
    flags = {
        "preliminary": ("PRELIMINARY", "UNVERIFIED"),
        "final": ("FINAL", "VERIFIED"),
        "amended": ("FINAL", "VERIFIED"),
    }[status]
    assert f"Preliminary Flag    : {flags[0]}" in dump
    assert f"Verification Flag   : {flags[1]}\n" in dump
    assert "Completion Flag     : COMPLETE" in dump
    if status != "preliminary":
        assert "2025-03-14" in dump.split("Verifying Observers :", 1)[1].splitlines()[0]
    assert ('CONTAINER:(,,"Addendum")' in dump) == (status == "amended")
