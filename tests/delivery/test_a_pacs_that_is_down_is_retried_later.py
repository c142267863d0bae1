"""When the hospital's PACS or our own Orthanc is away, the delivery waits and tries again."""

from __future__ import annotations

import pytest

from readingcenter.delivery.channels import DeliveryFailed, send_dicom
from readingcenter.delivery.formats.pdf import render_pdf
from readingcenter.pacs.orthanc import OrthancClient
from tests.delivery.conftest import free_port


def test_a_hospital_pacs_that_is_down_is_a_retryable_failure_naming_it(orthanc, report_document):
    doc = report_document("final")
    port = free_port()  # nothing listens there
    with pytest.raises(DeliveryFailed) as failure:
        send_dicom(
            doc, ae_title="SEOULNORTH_PACS", host="127.0.0.1", port=port, pdf=render_pdf(doc)
        )
    assert failure.value.retryable is True
    assert failure.value.code == "pacs_unreachable", failure.value.message
    assert f"SEOULNORTH_PACS at 127.0.0.1:{port}" in failure.value.message
    # Our copies are kept: the next attempt only has to send them.
    assert len(orthanc.client().get_json("/instances")) == 2


def test_our_orthanc_being_down_is_a_retryable_failure(report_document):
    doc = report_document("final")
    client = OrthancClient(f"http://127.0.0.1:{free_port()}", "readingcenter", "x", timeout=5)
    with pytest.raises(DeliveryFailed) as failure:
        send_dicom(
            doc,
            ae_title="SEOULNORTH_PACS",
            host="127.0.0.1",
            port=free_port(),
            pdf=render_pdf(doc),
            client=client,
        )
    assert (failure.value.code, failure.value.retryable) == ("orthanc_unavailable", True)
