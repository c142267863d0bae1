"""A hospital's HL7 engine receives the ORU^R01 over MLLP and reads the report back out."""

from __future__ import annotations

import base64

import hl7
import pytest

from readingcenter.delivery.channels import send_hl7
from readingcenter.delivery.formats.hl7v2 import message_control_id
from readingcenter.delivery.formats.pdf import render_pdf
from tests.delivery.conftest import FINDINGS, IMPRESSION, with_ai

ENDS = {
    "sending_application": "HANBIT_RC",
    "sending_facility": "HANBIT",
    "receiving_application": "SN_RIS",
    "receiving_facility": "SEOULNORTH",
}


def _send(doc, listener, pdf=None):
    return send_hl7(doc, host="127.0.0.1", port=listener.port, pdf=pdf, timeout=10, **ENDS)


def _section(message, code: str) -> str:
    """The text of one section, its TX lines joined as the receiver reassembles them."""
    lines = [
        message.unescape(str(obx[5]))
        for obx in message.segments("OBX")
        if str(obx[2]) == "TX" and str(obx[3][0][0]) == code
    ]
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("status", "code"), [("preliminary", "P"), ("final", "F"), ("amended", "C")]
)
def test_the_receiver_reads_accession_status_and_korean_text(
    report_document, mllp_listener, status, code
):
    listener = mllp_listener()
    doc = report_document(status)
    receipt = _send(doc, listener)
    assert receipt.detail["ack_code"] == "AA"
    assert receipt.detail["message_control_id"] == message_control_id(doc)

    [text] = listener.received
    message = hl7.parse(text)
    msh, obr, orc, pid = (message.segment(name) for name in ("MSH", "OBR", "ORC", "PID"))
    assert str(msh[9]) == "ORU^R01^ORU_R01"
    assert str(msh[10]) == message_control_id(doc)
    assert str(msh[18]) == "UNICODE UTF-8"
    assert (str(msh[3]), str(msh[5]), str(msh[6])) == ("HANBIT_RC", "SN_RIS", "SEOULNORTH")
    assert str(obr[3][0][0]) == "SN-2025-0001" == str(orc[3][0][0])
    assert str(obr[25]) == code
    assert {str(obx[11]) for obx in message.segments("OBX")} == {code}
    assert str(obr[4][0][0]) == "18748-4"
    # The patient in both scripts: alphabetic and ideographic XPN repetitions.
    assert str(pid[3][0][0]) == "SN00012345"
    assert [str(rep[0]) + "^" + str(rep[1]) for rep in pid[5]] == ["Kim^Jisoo", "김^지수"]
    assert [str(rep[7]) for rep in pid[5]] == ["A", "I"]
    # Delimiters in the text went as escapes and come back as written.
    assert _section(message, "59776-5") == FINDINGS
    assert _section(message, "19005-8") == IMPRESSION
    if status == "amended":
        assert _section(message, "55107-7") == doc.addendum_text
    else:
        assert _section(message, "55107-7") == ""


def test_a_critical_finding_is_flagged_and_noted(report_document, mllp_listener):
    listener = mllp_listener()
    _send(report_document("final"), listener)
    message = hl7.parse(listener.received[0])
    position, critical = next(
        (i, s) for i, s in enumerate(message) if str(s[0]) == "OBX" and str(s[3][0][0]) == "73568-8"
    )
    assert str(critical[8]) == "AA"
    assert message.unescape(str(critical[5])) == "Acute subdural hemorrhage with midline shift"
    note = message[position + 1]
    assert str(note[0]) == "NTE"
    assert "CRITICAL RESULT" in str(note[3])
    assert "ACR category 1" in str(note[3])


def test_a_confirmed_ai_finding_is_coded_and_an_unconfirmed_one_is_only_text(
    report_document, mllp_listener
):
    listener = mllp_listener()
    _send(report_document("final"), listener)
    _send(with_ai(report_document("final"), confirmed=False), listener)
    confirmed, unconfirmed = (hl7.parse(text) for text in listener.received)
    ai = next(o for o in confirmed.segments("OBX") if str(o[4]) == "ai.1")
    assert str(ai[2]) == "CE"
    assert str(ai[5]) == "1386000^Intracranial hemorrhage^SCT"
    assert str(ai[17][0][0]) == "head-ct-ich"
    ai = next(o for o in unconfirmed.segments("OBX") if str(o[4]) == "ai.1")
    assert str(ai[2]) == "TX"
    assert "not confirmed by the radiologist" in listener.received[1]


def test_the_pdf_travels_as_base64_in_an_ed_observation(report_document, mllp_listener):
    listener = mllp_listener()
    doc = report_document("final")
    pdf = render_pdf(doc)
    _send(doc, listener, pdf=pdf)
    message = hl7.parse(listener.received[0])
    ed = next(o for o in message.segments("OBX") if str(o[2]) == "ED")
    value = ed[5][0]
    assert [str(value[i]) for i in range(1, 4)] == ["AP", "PDF", "Base64"]
    assert base64.b64decode(str(value[4])) == pdf
