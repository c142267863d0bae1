"""A resend is the same instance: UIDs come from the report and version, nothing else."""

from __future__ import annotations

import pytest
from pydicom import dcmwrite
from pydicom.filebase import DicomBytesIO

from readingcenter.delivery.formats.common import FormatError
from readingcenter.delivery.formats.dicom_objects import encapsulated_pdf, structured_report
from readingcenter.delivery.formats.pdf import render_pdf


def _uids(doc):
    sr = structured_report(doc)
    pdf = encapsulated_pdf(doc, render_pdf(doc))
    return sr.SeriesInstanceUID, sr.SOPInstanceUID, pdf.SeriesInstanceUID, pdf.SOPInstanceUID


def test_the_same_version_gets_the_same_uids_and_the_next_version_new_instances(
    report_document,
):
    final = _uids(report_document("final"))
    assert _uids(report_document("final")) == final
    assert final == (
        "1.2.826.0.1.3680043.10.1138.42.1",
        "1.2.826.0.1.3680043.10.1138.42.1.2",
        "1.2.826.0.1.3680043.10.1138.42.2",
        "1.2.826.0.1.3680043.10.1138.42.2.2",
    )
    amended = _uids(report_document("amended"))
    # Each of the report's versions is a new instance in the same two series.
    assert (amended[0], amended[2]) == (final[0], final[2])
    assert amended[1] != final[1] and amended[3] != final[3]


def test_a_root_too_long_for_the_scheme_falls_back_to_a_hashed_uid(report_document):
    root = "1.2.826.0.1.3680043.10." + ".".join(["123456789"] * 4)
    uids = _uids(report_document("final", uid_root=root))
    assert all(len(uid) <= 64 and uid.startswith("2.25.") for uid in uids)
    assert len(set(uids)) == 4
    assert _uids(report_document("final", uid_root=root)) == uids


def test_a_root_that_is_not_a_uid_is_refused(report_document):
    with pytest.raises(FormatError, match="uid_root"):
        structured_report(report_document("final", uid_root="1.2.03.x"))


def test_the_same_version_is_byte_for_byte_the_same_object(report_document):
    def encoded(ds) -> bytes:
        buffer = DicomBytesIO()
        dcmwrite(buffer, ds, enforce_file_format=True)
        return buffer.getvalue()

    doc = report_document("amended")
    pdf = render_pdf(doc)
    assert encoded(structured_report(doc)) == encoded(structured_report(doc))
    assert encoded(encapsulated_pdf(doc, pdf)) == encoded(encapsulated_pdf(doc, pdf))
