"""What the hospital's HL7 engine answers, or fails to, decides whether we try again."""

from __future__ import annotations

import pytest

from readingcenter.delivery.channels import DeliveryFailed, send_hl7
from readingcenter.delivery.formats.hl7v2 import parse_ack
from tests.delivery.conftest import ack_for, free_port

ENDS = {
    "sending_application": "HANBIT_RC",
    "sending_facility": "HANBIT",
    "receiving_application": "SN_RIS",
    "receiving_facility": "SEOULNORTH",
}


def _send(doc, port, timeout=10.0):
    return send_hl7(doc, host="127.0.0.1", port=port, pdf=None, timeout=timeout, **ENDS)


@pytest.mark.parametrize(
    ("code", "retryable", "error_code"),
    [
        ("AE", True, "hl7_application_error"),
        ("CE", True, "hl7_application_error"),
        ("AR", False, "hl7_rejected"),
        ("CR", False, "hl7_rejected"),
    ],
)
def test_an_error_is_retried_and_a_rejection_is_not(
    report_document, mllp_listener, code, retryable, error_code
):
    listener = mllp_listener(lambda message: ack_for(message, code, "Unknown patient"))
    with pytest.raises(DeliveryFailed) as failure:
        _send(report_document("final"), listener.port)
    assert failure.value.retryable is retryable
    assert failure.value.code == error_code
    assert "Unknown patient" in failure.value.message
    assert "SN_RIS" in failure.value.message


def test_an_ack_for_another_message_is_not_taken_as_ours(report_document, mllp_listener):
    listener = mllp_listener(lambda message: ack_for(message, control_id="SOMETHINGELSE"))
    with pytest.raises(DeliveryFailed) as failure:
        _send(report_document("final"), listener.port)
    assert (failure.value.code, failure.value.retryable) == ("hl7_ack_mismatch", True)


def test_a_listener_that_is_down_is_retried_later(report_document):
    port = free_port()  # nothing listens there
    with pytest.raises(DeliveryFailed) as failure:
        _send(report_document("final"), port)
    assert (failure.value.code, failure.value.retryable) == ("hl7_unreachable", True)
    assert f"127.0.0.1:{port}" in failure.value.message


def test_a_listener_that_never_answers_times_out_and_is_retried(report_document, mllp_listener):
    listener = mllp_listener(lambda message: None)
    with pytest.raises(DeliveryFailed) as failure:
        _send(report_document("final"), listener.port, timeout=1.0)
    assert (failure.value.code, failure.value.retryable) == ("hl7_timeout", True)
    assert len(listener.received) == 1


def test_a_listener_that_hangs_up_without_an_ack_is_retried(report_document, mllp_listener):
    listener = mllp_listener(lambda message: "")
    with pytest.raises(DeliveryFailed) as failure:
        _send(report_document("final"), listener.port)
    assert (failure.value.code, failure.value.retryable) == ("hl7_no_ack", True)


def test_an_answer_that_is_not_an_ack_is_retried(report_document, mllp_listener):
    listener = mllp_listener(lambda message: "HTTP/1.1 400 Bad Request")
    with pytest.raises(DeliveryFailed) as failure:
        _send(report_document("final"), listener.port)
    assert (failure.value.code, failure.value.retryable) == ("hl7_bad_ack", True)


def test_an_ack_is_read_whatever_its_line_endings_and_error_segment():
    ack = parse_ack(
        "MSH|^~\\&|RIS|SN|RC|H|20250314||ACK|A1|P|2.5.1\n"
        "MSA|AE|ABC123\n"
        "ERR|||207^Application internal error^HL70357|E||||Database \\T\\ disk full\n"
    )
    assert (ack.code, ack.message_control_id) == ("AE", "ABC123")
    assert "Database & disk full" in ack.text
    assert ack.retryable and not ack.accepted
    assert parse_ack("MSH|^~\\&|A|B|C|D|2025||ACK|1|P|2.5.1\rMSA|CA|X1\r").accepted
