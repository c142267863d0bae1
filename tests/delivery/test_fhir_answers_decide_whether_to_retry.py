"""What the hospital's FHIR server answers, or fails to, decides whether we try again."""

from __future__ import annotations

import pytest

from readingcenter.delivery.channels import DeliveryFailed, send_fhir
from tests.delivery.conftest import free_port

PDF = b"%PDF-1.4\n% a stand-in: these tests are about the answers\n"


def _outcome(text: str) -> dict:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "invalid", "diagnostics": text}],
    }


@pytest.mark.parametrize(
    ("status", "retryable", "code"),
    [
        (503, True, "fhir_server_error"),
        (500, True, "fhir_server_error"),
        (429, True, "fhir_busy"),
        (408, True, "fhir_busy"),
        (400, False, "fhir_rejected"),
        (422, False, "fhir_rejected"),
        (401, False, "fhir_unauthorized"),
        (412, False, "fhir_duplicate_key"),
    ],
)
def test_server_errors_are_retried_and_client_errors_are_not(
    report_document, fhir_receiver, status, retryable, code
):
    receiver = fhir_receiver(lambda *request: (status, {}, _outcome("Profile says no")))
    with pytest.raises(DeliveryFailed) as failure:
        send_fhir(report_document("final"), base_url=receiver.base_url, token=None, pdf=PDF)
    assert (failure.value.code, failure.value.retryable) == (code, retryable)
    assert str(status) in failure.value.message
    assert "Profile says no" in failure.value.message


def test_a_server_that_is_down_is_retried_later(report_document):
    base_url = f"http://127.0.0.1:{free_port()}/fhir"
    with pytest.raises(DeliveryFailed) as failure:
        send_fhir(report_document("final"), base_url=base_url, token=None, pdf=PDF)
    assert (failure.value.code, failure.value.retryable) == ("fhir_unreachable", True)
    assert base_url in failure.value.message
