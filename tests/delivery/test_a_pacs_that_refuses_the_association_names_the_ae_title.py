"""A PACS that rejects our association gets a message pointing at the AE title settings."""

from __future__ import annotations

import subprocess

import pytest

from readingcenter.delivery.channels import DeliveryFailed, send_dicom
from readingcenter.delivery.formats.pdf import render_pdf
from tests.delivery.conftest import free_port, needs_dcmtk, wait_for_listener


@needs_dcmtk
def test_a_rejected_association_is_retryable_and_says_to_check_the_ae_title(
    orthanc, report_document
):
    port = free_port()
    # storescp --refuse rejects every association, as a PACS does for an AE it does not know.
    pacs = subprocess.Popen(
        ["storescp", "--refuse", "-aet", "SEOULNORTH_PACS", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_listener(port)
        doc = report_document("final")
        with pytest.raises(DeliveryFailed) as failure:
            send_dicom(
                doc, ae_title="SEOULNORTH_PACS", host="127.0.0.1", port=port, pdf=render_pdf(doc)
            )
    finally:
        pacs.terminate()
        pacs.wait(timeout=10)
    assert (failure.value.code, failure.value.retryable) == ("pacs_association_rejected", True)
    assert f"SEOULNORTH_PACS at 127.0.0.1:{port} rejected the association" in failure.value.message
    assert "check the AE title SEOULNORTH_PACS" in failure.value.message
