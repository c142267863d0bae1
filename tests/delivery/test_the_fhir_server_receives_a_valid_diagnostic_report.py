"""A hospital's FHIR server gets one DiagnosticReport it can validate and file, once."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from fhir.resources.R4B.diagnosticreport import DiagnosticReport

from readingcenter.delivery.channels import send_fhir
from readingcenter.delivery.formats.pdf import render_pdf
from tests.delivery.conftest import IMPRESSION, with_ai


def _contained(report: dict, kind: str) -> list[dict]:
    return [r for r in report["contained"] if r["resourceType"] == kind]


@pytest.mark.parametrize("status", ["preliminary", "final", "amended"])
def test_the_receiver_validates_the_report_and_finds_patient_accession_and_pdf(
    report_document, fhir_receiver, status
):
    receiver = fhir_receiver()
    doc = report_document(status)
    pdf = render_pdf(doc)
    receipt = send_fhir(doc, base_url=receiver.base_url, token="s3cret", pdf=pdf)
    assert receipt.detail["status"] == 201
    assert receipt.detail["id"] == "dr-77"

    [request] = receiver.requests
    assert request["path"] == "/fhir/DiagnosticReport"
    headers = request["headers"]
    assert headers["Content-Type"].startswith("application/fhir+json")
    assert headers["Authorization"] == "Bearer s3cret"
    assert headers["If-None-Exist"] == (
        f"identifier=urn:oid:1.2.826.0.1.3680043.10.1138|report-42-v{doc.version_number}"
    )
    # What the hospital's server does first: parse it with a FHIR model of its own.
    report = DiagnosticReport.model_validate_json(request["body"])
    assert report.status == status
    body = json.loads(request["body"])
    assert body["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "18748-4",
        "display": "Diagnostic imaging study",
    }
    identifiers = {i.get("system") or i["type"]["coding"][0]["code"]: i for i in body["identifier"]}
    assert identifiers["urn:oid:1.2.826.0.1.3680043.10.1138"]["value"] == doc.idempotency_key
    assert identifiers["ACSN"]["value"] == "SN-2025-0001"
    [patient] = _contained(body, "Patient")
    assert body["subject"] == {"reference": "#patient"}
    assert [n["text"] for n in patient["name"]] == ["Jisoo Kim", "김지수"]
    assert (patient["gender"], patient["birthDate"]) == ("female", "1961-05-02")
    [radiologist] = _contained(body, "Practitioner")
    assert body["resultsInterpreter"][0]["reference"] == "#radiologist"
    assert radiologist["name"][0]["text"] == "Lee Seoyeon, MD"
    assert body["issued"] == doc.signed_at.astimezone(report.issued.tzinfo).isoformat()
    assert body["issued"].endswith("+09:00")
    assert body["effectiveDateTime"] == "2025-03-14T17:58:11+09:00"
    assert body["conclusion"] == IMPRESSION
    pdf_form, text_form = body["presentedForm"]
    assert pdf_form["contentType"] == "application/pdf"
    assert base64.b64decode(pdf_form["data"]) == pdf
    assert base64.b64decode(pdf_form["hash"]) == hashlib.sha1(pdf).digest()  # noqa: S324
    assert pdf_form["size"] == len(pdf)
    full_text = base64.b64decode(text_form["data"]).decode("utf-8")
    assert "좌측 전두엽 경막하 출혈" in full_text
    assert "A|B ^ C&D ~ E\\F" in full_text
    assert ("ADDENDUM" in full_text) == (status == "amended")


def test_confirmed_ai_and_critical_findings_are_coded(report_document, fhir_receiver):
    receiver = fhir_receiver()
    doc = report_document("final")
    send_fhir(doc, base_url=receiver.base_url, token=None, pdf=render_pdf(doc))
    body = json.loads(receiver.requests[0]["body"])
    assert "Authorization" not in receiver.requests[0]["headers"]
    assert body["conclusionCode"][0]["coding"][0] == {
        "system": "http://snomed.info/sct",
        "code": "1386000",
        "display": "Intracranial hemorrhage",
    }
    [critical] = _contained(body, "Observation")
    assert body["result"] == [
        {"reference": f"#{critical['id']}", "display": critical["valueString"]}
    ]
    assert critical["interpretation"][0]["coding"][0]["code"] == "AA"
    assert critical["note"][0]["text"] == "ACR category 1: communicate within minutes"


def test_an_unconfirmed_ai_finding_is_not_a_coded_conclusion(report_document, fhir_receiver):
    receiver = fhir_receiver()
    doc = with_ai(report_document("final"), confirmed=False)
    send_fhir(doc, base_url=receiver.base_url, token=None, pdf=render_pdf(doc))
    body = json.loads(receiver.requests[0]["body"])
    assert "conclusionCode" not in body
    text = base64.b64decode(body["presentedForm"][1]["data"]).decode()
    assert "not confirmed by the radiologist" in text


def test_a_duplicate_the_server_already_holds_counts_as_delivered(report_document, fhir_receiver):
    existing = {"resourceType": "DiagnosticReport", "id": "dr-12", "status": "final"}
    receiver = fhir_receiver(lambda *request: (200, {}, existing))
    doc = report_document("final")
    receipt = send_fhir(doc, base_url=receiver.base_url, token=None, pdf=render_pdf(doc))
    assert (receipt.detail["status"], receipt.detail["id"]) == (200, "dr-12")
    assert "already present" in receipt.summary
