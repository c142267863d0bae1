"""The hospital's PACS (dcmtk's storescp) receives the SR and the PDF through our Orthanc."""

from __future__ import annotations

from pydicom import dcmread
from pydicom.uid import ComprehensiveSRStorage, EncapsulatedPDFStorage

from readingcenter.delivery.channels import send_dicom
from readingcenter.delivery.formats.pdf import render_pdf
from tests.delivery.conftest import needs_dciodvfy, needs_dcmtk
from tests.delivery.dicom_checks import dciodvfy_errors, dsrdump
from tests.delivery.pdf_text import pdf_text


def _received(folder) -> dict:
    return {str(dcmread(path).SOPClassUID): path for path in folder.iterdir() if path.is_file()}


@needs_dcmtk
@needs_dciodvfy
def test_the_pacs_receives_a_valid_sr_and_pdf_and_our_copies_stay_in_orthanc(
    orthanc, hospital_pacs, report_document
):
    port, folder = hospital_pacs
    doc = report_document("final")
    pdf = render_pdf(doc)
    receipt = send_dicom(doc, ae_title="SEOULNORTH_PACS", host="127.0.0.1", port=port, pdf=pdf)
    assert "SEOULNORTH_PACS" in receipt.summary

    received = _received(folder)
    assert set(received) == {ComprehensiveSRStorage, EncapsulatedPDFStorage}
    for path in received.values():
        assert dciodvfy_errors(path) == [], path.name
    dump = dsrdump(received[ComprehensiveSRStorage])
    assert "Kim^Jisoo=김^지수" in dump
    assert "Verification Flag   : VERIFIED" in dump
    document = dcmread(received[EncapsulatedPDFStorage])
    assert document.StudyInstanceUID == doc.study_instance_uid
    carried = document.EncapsulatedDocument[: document.EncapsulatedDocumentLength]
    assert carried == pdf
    assert "Kim, Jisoo (김지수)" in pdf_text(carried)

    client = orthanc.client()
    for kind, item in receipt.detail["instances"].items():
        assert client.instance_metadata(item["orthanc_id"])["Origin"] == "RestApi", kind
    sop_uids = {str(dcmread(p).SOPInstanceUID) for p in received.values()}
    assert sop_uids == {item["sop_instance_uid"] for item in receipt.detail["instances"].values()}


@needs_dcmtk
def test_sending_the_same_version_again_sends_the_same_instances(
    orthanc, hospital_pacs, report_document
):
    port, folder = hospital_pacs
    doc = report_document("final")
    pdf = render_pdf(doc)
    first = send_dicom(doc, ae_title="SEOULNORTH_PACS", host="127.0.0.1", port=port, pdf=pdf)
    again = send_dicom(doc, ae_title="SEOULNORTH_PACS", host="127.0.0.1", port=port, pdf=pdf)
    assert {k: v["orthanc_id"] for k, v in again.detail["instances"].items()} == {
        k: v["orthanc_id"] for k, v in first.detail["instances"].items()
    }
    assert {v["status"] for v in again.detail["instances"].values()} == {"AlreadyStored"}
    assert len({str(dcmread(p).SOPInstanceUID) for p in folder.iterdir()}) == 2
    assert len(orthanc.client().get_json("/instances")) == 2
