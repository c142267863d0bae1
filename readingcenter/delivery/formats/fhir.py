"""The signed report as a FHIR R4 DiagnosticReport (built and validated with fhir.resources).

fhir.resources ships R4B models, whose DiagnosticReport is R4's on the wire. The report
travels alone (a hospital's FHIR server creates it in one POST), so the patient and the
radiologist are contained resources, and the study is a logical reference by its
StudyInstanceUID. Two identifiers: the delivery's idempotency key under the reading center's
system, which the sender puts in ``If-None-Exist`` so the hospital's server drops a duplicate,
and the hospital's accession number (type ACSN), which is how their RIS finds the order.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import json

from django.utils.translation import gettext as _
from pydantic import ValidationError

from readingcenter.delivery.document import ReportDocument
from readingcenter.delivery.formats.common import (
    LOINC_SYSTEM,
    REPORT_CODE,
    FormatError,
    check_document,
    critical_text,
    full_text,
    hospital_zone,
    in_report_language,
    local,
    pn_groups,
)

FHIR_STATUS = {"preliminary": "preliminary", "final": "final", "amended": "amended"}
SYSTEMS = {
    "SCT": "http://snomed.info/sct",
    "LN": LOINC_SYSTEM,
    "DCM": "http://dicom.nema.org/resources/ontology/DCM",
    "RADLEX": "http://radlex.org",
}
GENDER = {"M": "male", "F": "female", "O": "other"}
NAME_REPRESENTATION = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"


def identifier_system(doc: ReportDocument) -> str:
    """The reading center's namespace for delivery keys: its own UID root as an OID URN."""
    return f"urn:oid:{doc.uid_root.strip().rstrip('.')}"


def _coding_system(scheme: str) -> str:
    return SYSTEMS.get(scheme.upper(), f"urn:dicom:coding-scheme:{scheme}")


def _human_names(pn: str) -> list[dict]:
    names = []
    for group, representation in zip(pn_groups(pn), ("ABC", "IDE", "SYL"), strict=False):
        family, given, middle, prefix, suffix = group
        if not any(group):
            continue
        name: dict = {"use": "official"}
        if family:
            name["family"] = family
        if given or middle:
            name["given"] = [g for g in (given, middle) if g]
        if prefix:
            name["prefix"] = [prefix]
        if suffix:
            name["suffix"] = [suffix]
        # The ideographic form reads family name first without a space (김지수, 朴敏浩).
        if representation == "ABC":
            name["text"] = " ".join(part for part in (given, middle, family) if part)
        else:
            name["text"] = f"{family}{given}{middle}"
        name["extension"] = [{"url": NAME_REPRESENTATION, "valueCode": representation}]
        names.append(name)
    return names


def _effective(doc: ReportDocument) -> dict:
    if doc.study_date is None:
        return {}
    if doc.study_time is None:
        return {"effectiveDateTime": doc.study_date.isoformat()}
    # DICOM study dates are the hospital's local time; FHIR wants the offset said.
    moment = dt.datetime.combine(doc.study_date, doc.study_time).replace(
        microsecond=0, tzinfo=hospital_zone(doc)
    )
    return {"effectiveDateTime": moment.isoformat()}


def _attachment(data: bytes, content_type: str, title: str, created: str) -> dict:
    return {
        "contentType": content_type,
        "data": base64.b64encode(data).decode("ascii"),
        "size": len(data),
        # FHIR's Attachment.hash is the base64 of the SHA-1 of the data.
        "hash": base64.b64encode(hashlib.sha1(data).digest()).decode("ascii"),  # noqa: S324
        "title": title,
        "creation": created,
    }


@in_report_language
def diagnostic_report(doc: ReportDocument, pdf: bytes) -> dict:
    """The DiagnosticReport as a JSON-ready dict (validated against the R4B model)."""
    from fhir.resources.R4B.diagnosticreport import DiagnosticReport

    check_document(doc)
    status = FHIR_STATUS[doc.status]
    issued = local(doc, doc.signed_at).replace(microsecond=0).isoformat()
    text = full_text(doc)
    patient = {
        "resourceType": "Patient",
        "id": "patient",
        "identifier": [
            {
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                            "code": "MR",
                        }
                    ]
                },
                "value": doc.patient_id,
                "assigner": {"display": doc.hospital_name},
            }
        ],
        "name": _human_names(doc.patient_name),
        "gender": GENDER.get(doc.patient_sex, "unknown"),
    }
    if doc.patient_birth_date:
        patient["birthDate"] = doc.patient_birth_date.isoformat()
    radiologist = {
        "resourceType": "Practitioner",
        "id": "radiologist",
        "identifier": [
            {"value": doc.signed_by_username, "assigner": {"display": doc.reading_center_name}}
        ],
        "name": [{"text": doc.signed_by_name}],
    }
    reading_center = {
        "resourceType": "Organization",
        "id": "reading-center",
        "name": doc.reading_center_name,
    }
    contained = [patient, radiologist, reading_center]
    results = []
    for index, critical in enumerate(doc.critical_findings, start=1):
        observation_id = f"critical-{index}"
        contained.append(
            {
                "resourceType": "Observation",
                "id": observation_id,
                "status": status,
                "code": {
                    "coding": [
                        {
                            "system": LOINC_SYSTEM,
                            "code": "73568-8",
                            "display": "Communication of critical results",
                        }
                    ],
                },
                "subject": {"reference": "#patient"},
                "valueString": critical.finding,
                "interpretation": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/"
                                "v3-ObservationInterpretation",
                                "code": "AA",
                                "display": "Critical abnormal",
                            }
                        ]
                    }
                ],
                "note": [{"text": critical_text(critical.category)}],
            }
        )
        results.append({"reference": f"#{observation_id}", "display": critical.finding})
    resource = {
        "resourceType": "DiagnosticReport",
        "contained": contained,
        "text": {
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml"><pre>'
            f"{html.escape(text, quote=False)}</pre></div>",
        },
        "identifier": [
            {"use": "official", "system": identifier_system(doc), "value": doc.idempotency_key},
            {
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                            "code": "ACSN",
                        }
                    ]
                },
                "value": doc.accession_number,
                "assigner": {"display": doc.hospital_name},
            },
        ],
        "status": status,
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v2-0074",
                        "code": "RAD",
                        "display": "Radiology",
                    }
                ]
            }
        ],
        "code": {
            "coding": [{"system": LOINC_SYSTEM, "code": REPORT_CODE[0], "display": REPORT_CODE[2]}],
            "text": doc.study_description or doc.requested_procedure or REPORT_CODE[2],
        },
        "subject": {"reference": "#patient"},
        **_effective(doc),
        "issued": issued,
        "performer": [{"reference": "#reading-center", "display": doc.reading_center_name}],
        "resultsInterpreter": [{"reference": "#radiologist", "display": doc.signed_by_name}],
        "imagingStudy": [
            {
                "type": "ImagingStudy",
                "identifier": {
                    "system": "urn:dicom:uid",
                    "value": f"urn:oid:{doc.study_instance_uid}",
                },
            }
        ],
        "presentedForm": [
            _attachment(
                pdf,
                "application/pdf",
                _("Report %(accession)s (PDF)") % {"accession": doc.accession_number},
                issued,
            ),
            _attachment(
                text.encode("utf-8"),
                "text/plain; charset=utf-8",
                _("Report %(accession)s (text)") % {"accession": doc.accession_number},
                issued,
            ),
        ],
    }
    if results:
        resource["result"] = results
    if doc.impression.strip():
        resource["conclusion"] = doc.impression.strip()
    # Coded conclusions are the radiologist's: only AI findings the radiologist confirmed.
    codes = [
        {
            "coding": [
                {
                    "system": _coding_system(f.code.scheme),
                    "code": f.code.value,
                    "display": f.code.meaning,
                }
            ],
            "text": f.label,
        }
        for f in doc.ai_findings
        if f.confirmed is True
    ]
    if codes:
        resource["conclusionCode"] = codes
    try:
        report = DiagnosticReport.model_validate(resource)
    except ValidationError as exc:
        raise FormatError(
            f"report {doc.report_id} v{doc.version_number} makes an invalid FHIR "
            f"DiagnosticReport: {exc}"
        ) from exc
    return json.loads(report.model_dump_json(exclude_none=True))
