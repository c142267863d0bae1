"""What a signed report is, to the formats that carry it to a hospital.

``delivery.selectors.report_document`` builds one ``ReportDocument`` from a signed report
version; the formats (PDF, DICOM SR and Encapsulated PDF, HL7 v2 ORU, FHIR DiagnosticReport)
read only this, never the models, so each can be built and tested on its own and a delivery
retried days later sends exactly what was signed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CodedConcept:
    """A code as DICOM SR and FHIR both carry it (SNOMED CT unless said otherwise)."""

    value: str
    meaning: str
    scheme: str = "SCT"  # DICOM's CodingSchemeDesignator; FHIR system is derived from it


@dataclass(frozen=True)
class AIFinding:
    """One positive AI flag on the study version that was read (never a negative)."""

    finding: str  # the model's finding key, e.g. "ich"
    label: str  # how people say it: "intracranial hemorrhage"
    code: CodedConcept
    probability: float
    threshold: float
    model_name: str
    model_version: str
    weights_sha256: str
    # The radiologist's verdict in the signed report: True confirmed, False not confirmed,
    # None not stated.
    confirmed: bool | None = None


@dataclass(frozen=True)
class CriticalFinding:
    finding: str
    # After the ACR actionable-findings scheme: "minutes" (cat. 1), "hours" (2), "days" (3).
    category: str


@dataclass(frozen=True)
class ReportDocument:
    # -- which report, which version -----------------------------------------------------------
    report_id: int
    # 1, 2, 3... per study, in signing order: the order the hospital must receive them in.
    version_number: int
    # "preliminary", "final", or "amended" (an addendum to a final report).
    status: str
    # The version this one supersedes or amends (a final after a preliminary, an addendum
    # after a final); None for the first.
    replaces_version: int | None
    # Stable across retries of the same version: the hospital may drop duplicates by it.
    idempotency_key: str
    # A UID root of ours; the formats derive their SOP/Series UIDs from it deterministically
    # (same version -> same UIDs), so a resend replaces instead of duplicating.
    uid_root: str

    # -- the study, as the hospital sent it ----------------------------------------------------
    hospital_name: str
    hospital_code: str
    hospital_time_zone: str  # IANA name, for printing times the way the hospital reads them
    study_instance_uid: str
    accession_number: str
    patient_id: str
    # DICOM PN as received (family^given, "=" separating alphabetic/ideographic/phonetic).
    patient_name: str
    patient_birth_date: dt.date | None
    patient_sex: str  # "M", "F", "O" or ""
    study_date: dt.date | None
    study_time: dt.time | None
    study_description: str
    modality: str
    referring_physician_name: str
    # The hospital's own StudyID attribute (SH), "" when it sent none.
    study_id: str
    requested_procedure: str
    clinical_history: str

    # -- what the radiologist wrote and signed -------------------------------------------------
    technique: str
    comparison: str
    findings: str
    impression: str
    # For an addendum: its own text (the original's sections are repeated for context).
    addendum_text: str
    critical_findings: tuple[CriticalFinding, ...]
    ai_findings: tuple[AIFinding, ...]

    # -- the electronic signature ----------------------------------------------------------------
    signed_by_name: str  # printed name, e.g. "Kim Jisoo, MD"
    signed_by_username: str
    signed_at: dt.datetime  # timezone-aware, UTC
    # What signing meant: "preliminary report", "final report", "addendum".
    signature_meaning: str
    content_sha256: str  # of the signed text, as stored; the PDF prints it

    reading_center_name: str = "Reading Center"
    extra: dict = field(default_factory=dict)
    # The report's language (Report.language): the headings and labels of every format are
    # written in it; the radiologist's text is as he wrote it, the codes the same in all.
    language: str = "en"

    @property
    def is_amended(self) -> bool:
        return self.status == "amended"
