"""The senders: one signed report version to one hospital destination, over one channel.

Each returns a ``Receipt`` (what the hospital's side said, for the delivery record) or raises
``DeliveryFailed`` with a stable code, whether a retry may help, and a message that says
what to do next. Every sender may be called again for the same version (the outbox retries
at least once): the DICOM UIDs, the HL7 control id and the FHIR conditional create are all
derived from the version, so the hospital gets the report once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from urllib.parse import quote

import requests
from pydicom import dcmwrite
from pydicom.filebase import DicomBytesIO

from readingcenter.delivery.document import ReportDocument
from readingcenter.delivery.formats.common import FormatError
from readingcenter.pacs.orthanc import OrthancClient, OrthancError, get_client


@dataclass(frozen=True)
class Receipt:
    summary: str
    detail: dict = field(default_factory=dict)


class DeliveryFailed(Exception):
    def __init__(self, code: str, message: str, retryable: bool):
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable

    def __repr__(self) -> str:
        return f"DeliveryFailed({self.code!r}, retryable={self.retryable}: {self.message})"


def _unrenderable(doc: ReportDocument, exc: Exception) -> DeliveryFailed:
    return DeliveryFailed(
        "report_unrenderable",
        f"report {doc.report_id} version {doc.version_number} cannot be put into this format: "
        f"{exc}. Retrying will not help; fix the report data or the setting named.",
        retryable=False,
    )


# -- DICOM, through our Orthanc -----------------------------------------------------------------
def modality_name(doc: ReportDocument, ae_title: str) -> str:
    """Orthanc's symbolic name for a hospital's PACS: stable, URL-safe, one per AE title."""
    raw = f"hospital-{doc.hospital_code}-{ae_title}".lower()
    return re.sub(r"[^a-z0-9_-]+", "-", raw).strip("-")


def _dicom_bytes(ds) -> bytes:
    buffer = DicomBytesIO()
    dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def _orthanc_failed(exc: OrthancError, doing: str) -> DeliveryFailed:
    if exc.status is None:
        return DeliveryFailed(
            "orthanc_unavailable",
            f"our Orthanc could not be reached while {doing} ({exc}); it will be retried. "
            "If this persists, check that Orthanc is running and ORTHANC_URL.",
            retryable=True,
        )
    if 400 <= exc.status < 500 and exc.status != 404:
        return DeliveryFailed(
            "orthanc_refused",
            f"our Orthanc refused {doing} (HTTP {exc.status}: {exc.details or exc}); this is a "
            "fault in the objects we built or in Orthanc's configuration, not the hospital's. "
            "Retrying will not help; tell the reading center's engineers.",
            retryable=False,
        )
    return DeliveryFailed(
        "orthanc_error",
        f"our Orthanc failed while {doing} (HTTP {exc.status}: {exc.details or exc}); it will "
        "be retried. If this persists, see Orthanc's log.",
        retryable=True,
    )


def _pacs_failed(exc: OrthancError, ae_title: str, host: str, port: int) -> DeliveryFailed:
    """Orthanc answers 500 at once when the C-STORE fails; its Details say how."""
    details = exc.details or str(exc)
    where = f"the hospital's PACS {ae_title} at {host}:{port}"
    lowered = details.lower()
    if "reject" in lowered or "called ae" in lowered or "calling ae" in lowered:
        return DeliveryFailed(
            "pacs_association_rejected",
            f"{where} rejected the association ({details}); check the AE title {ae_title} and "
            "that it accepts our AE title, with their PACS administrator. It will be retried.",
            retryable=True,
        )
    if "connect" in lowered or "refused" in lowered or "timeout" in lowered or "tcp" in lowered:
        return DeliveryFailed(
            "pacs_unreachable",
            f"{where} could not be reached ({details}); it is down or the address is wrong. "
            f"It will be retried; if it persists, check host {host} and port {port} with their "
            "PACS administrator.",
            retryable=True,
        )
    return DeliveryFailed(
        "pacs_store_failed",
        f"{where} did not store the report ({details}); it will be retried. If it persists, "
        "ask their PACS administrator whether it accepts Comprehensive SR and Encapsulated PDF.",
        retryable=True,
    )


def send_dicom(
    doc: ReportDocument,
    *,
    ae_title: str,
    host: str,
    port: int,
    pdf: bytes,
    client: OrthancClient | None = None,
    timeout: float = 60,
) -> Receipt:
    """Store the SR and the Encapsulated PDF in the hospital's PACS, through our Orthanc.

    Both are first stored in our Orthanc, in the study they report on, and kept there (the
    ingest follower recognises them as ours: Origin RestApi never re-opens a study).
    """
    from readingcenter.delivery.formats.dicom_objects import encapsulated_pdf, structured_report

    client = client or get_client()
    try:
        objects = {"sr": structured_report(doc), "pdf": encapsulated_pdf(doc, pdf)}
        files = {kind: _dicom_bytes(ds) for kind, ds in objects.items()}
    except (FormatError, ValueError) as exc:
        raise _unrenderable(doc, exc) from exc

    stored = {}
    try:
        for kind, data in files.items():
            answer = client.upload_instance(data)
            stored[kind] = {
                "sop_instance_uid": str(objects[kind].SOPInstanceUID),
                "orthanc_id": answer["ID"],
                "status": answer.get("Status", ""),
            }
    except OrthancError as exc:
        raise _orthanc_failed(exc, "storing the report objects") from exc

    name = modality_name(doc, ae_title)
    try:
        client.put_modality(name, aet=ae_title, host=host, port=port)
    except OrthancError as exc:
        raise _orthanc_failed(exc, f"registering the hospital's PACS {ae_title}") from exc

    try:
        answer = client.store_to_modality(
            name, [item["orthanc_id"] for item in stored.values()], timeout=timeout
        )
    except OrthancError as exc:
        if exc.status == 500:
            raise _pacs_failed(exc, ae_title, host, port) from exc
        raise _orthanc_failed(exc, f"sending to the hospital's PACS {ae_title}") from exc
    failed = int(answer.get("FailedInstancesCount") or 0)
    if failed:
        raise DeliveryFailed(
            "pacs_store_failed",
            f"the hospital's PACS {ae_title} at {host}:{port} refused {failed} of "
            f"{len(stored)} objects; it will be retried. If it persists, ask their PACS "
            "administrator whether it accepts Comprehensive SR and Encapsulated PDF.",
            retryable=True,
        )
    return Receipt(
        summary=(
            f"The SR and the PDF of report {doc.report_id} version {doc.version_number} were "
            f"stored in the hospital's PACS {ae_title} at {host}:{port}."
        ),
        detail={
            "channel": "dicom",
            "ae_title": ae_title,
            "host": host,
            "port": port,
            "orthanc_modality": name,
            "instances": stored,
            "study_instance_uid": doc.study_instance_uid,
        },
    )


# -- HL7 v2 over MLLP ---------------------------------------------------------------------------
def send_hl7(
    doc: ReportDocument,
    *,
    host: str,
    port: int,
    sending_application: str,
    sending_facility: str,
    receiving_application: str,
    receiving_facility: str,
    pdf: bytes | None,
    timeout: float = 10,
) -> Receipt:
    from readingcenter.delivery.formats.hl7v2 import (
        MLLPError,
        message_control_id,
        mllp_send,
        oru_r01,
    )

    try:
        message = oru_r01(
            doc,
            sending_application=sending_application,
            sending_facility=sending_facility,
            receiving_application=receiving_application,
            receiving_facility=receiving_facility,
            pdf=pdf,
        )
    except FormatError as exc:
        raise _unrenderable(doc, exc) from exc
    control_id = message_control_id(doc)
    try:
        ack = mllp_send(host, port, message, timeout=timeout)
    except MLLPError as exc:
        raise DeliveryFailed(exc.code, str(exc), exc.retryable) from exc
    where = f"{receiving_application} at {host}:{port}"
    said = f": {ack.text}" if ack.text else ""
    if ack.accepted:
        return Receipt(
            summary=f"HL7 ORU^R01 {control_id} accepted by {where} ({ack.code}).",
            detail={
                "channel": "hl7",
                "host": host,
                "port": port,
                "message_control_id": control_id,
                "ack_code": ack.code,
                "ack_text": ack.text,
            },
        )
    if ack.retryable:
        raise DeliveryFailed(
            "hl7_application_error",
            f"{where} could not process ORU^R01 {control_id} ({ack.code}{said}); it will be "
            "retried. If it persists, ask the hospital's interface team what their engine logged "
            f"for control id {control_id}.",
            retryable=True,
        )
    raise DeliveryFailed(
        "hl7_rejected",
        f"{where} rejected ORU^R01 {control_id} ({ack.code}{said}). Retrying will not help: "
        "check the receiving application and facility names and the message profile with the "
        "hospital's interface team, then resend.",
        retryable=False,
    )


# -- FHIR over HTTPS ------------------------------------------------------------------------------
def _operation_outcome(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300].strip()
    issues = body.get("issue") if isinstance(body, dict) else None
    if not issues:
        return json.dumps(body, ensure_ascii=False)[:300]
    return "; ".join(
        str(issue.get("diagnostics") or (issue.get("details") or {}).get("text") or issue)
        for issue in issues
    )[:500]


def _created_id(response: requests.Response) -> str:
    location = response.headers.get("Location") or response.headers.get("Content-Location") or ""
    match = re.search(r"DiagnosticReport/([A-Za-z0-9\-.]{1,64})", location)
    if match:
        return match.group(1)
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("id", "")) if isinstance(body, dict) else ""


def send_fhir(
    doc: ReportDocument,
    *,
    base_url: str,
    token: str | None,
    pdf: bytes,
    timeout: float = 15,
    verify: bool | str = True,
) -> Receipt:
    """POST the DiagnosticReport as a conditional create (``If-None-Exist`` on our key)."""
    from readingcenter.delivery.formats.fhir import diagnostic_report, identifier_system

    try:
        resource = diagnostic_report(doc, pdf)
    except FormatError as exc:
        raise _unrenderable(doc, exc) from exc
    url = f"{base_url.rstrip('/')}/DiagnosticReport"
    condition = (
        f"identifier={quote(identifier_system(doc), safe=':./')}|"
        f"{quote(doc.idempotency_key, safe=':._-')}"
    )
    headers = {
        "Content-Type": "application/fhir+json; charset=utf-8",
        "Accept": "application/fhir+json",
        "If-None-Exist": condition,
    }
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps(resource, ensure_ascii=False).encode("utf-8")
    response = _fhir_post(url, body, headers=headers, timeout=timeout, verify=verify)
    status = response.status_code
    if 200 <= status < 300:
        resource_id = _created_id(response)
        created = status == 201
        return Receipt(
            summary=(
                f"DiagnosticReport {'created' if created else 'already present'} on the "
                f"hospital's FHIR server {base_url}"
                + (f" as DiagnosticReport/{resource_id}" if resource_id else "")
                + f" (HTTP {status})."
            ),
            detail={
                "channel": "fhir",
                "url": url,
                "status": status,
                "id": resource_id,
                "location": response.headers.get("Location", ""),
                "if_none_exist": condition,
            },
        )
    raise _fhir_refusal(doc, response, url=url)


def _fhir_post(
    url: str, body: bytes, *, headers: dict, timeout: float, verify
) -> requests.Response:
    """The POST itself; a server we could not talk to is a retryable failure naming why."""
    try:
        return requests.post(
            url, data=body, headers=headers, timeout=timeout, verify=verify, allow_redirects=False
        )
    except requests.exceptions.SSLError as exc:
        raise DeliveryFailed(
            "fhir_tls",
            f"the TLS handshake with the hospital's FHIR server at {url} failed ({exc}); check "
            "its certificate (expired, or signed by a CA we do not trust). It will be retried.",
            retryable=True,
        ) from exc
    except requests.exceptions.Timeout as exc:
        raise DeliveryFailed(
            "fhir_timeout",
            f"the hospital's FHIR server at {url} did not answer within {timeout:g}s; it will be "
            "retried (the conditional create keeps a late first attempt from doubling it).",
            retryable=True,
        ) from exc
    except requests.RequestException as exc:
        raise DeliveryFailed(
            "fhir_unreachable",
            f"the hospital's FHIR server at {url} could not be reached ({exc.__class__.__name__});"
            " it will be retried. If it persists, check the base URL and the network path.",
            retryable=True,
        ) from exc


def _fhir_refusal(doc: ReportDocument, response: requests.Response, *, url: str) -> DeliveryFailed:
    """What an answer other than 2xx means: retry later (busy, down) or fix something first."""
    status = response.status_code
    outcome = _operation_outcome(response)
    if status in (408, 429) or status >= 500:
        return DeliveryFailed(
            "fhir_server_error" if status >= 500 else "fhir_busy",
            f"the hospital's FHIR server at {url} answered {status} ({outcome}); it will be "
            "retried.",
            retryable=True,
        )
    if status in (401, 403):
        return DeliveryFailed(
            "fhir_unauthorized",
            f"the hospital's FHIR server at {url} refused our credentials ({status}: {outcome}); "
            "renew the access token in the hospital's delivery settings, then resend.",
            retryable=False,
        )
    if 300 <= status < 400:
        return DeliveryFailed(
            "fhir_redirected",
            f"the hospital's FHIR server at {url} redirects to "
            f"{response.headers.get('Location', '?')}; update the base URL in the hospital's "
            "delivery settings, then resend.",
            retryable=False,
        )
    if status == 412:
        return DeliveryFailed(
            "fhir_duplicate_key",
            f"the hospital's FHIR server at {url} holds more than one report with our key "
            f"{doc.idempotency_key} (412: {outcome}); ask them to remove the extra copy.",
            retryable=False,
        )
    return DeliveryFailed(
        "fhir_rejected",
        f"the hospital's FHIR server at {url} rejected the DiagnosticReport ({status}: "
        f"{outcome}). Retrying will not help: check the profile their server requires with "
        "their integration team, then resend.",
        retryable=False,
    )
