"""What every format must say the same way: names, times, sections, codes, UIDs.

Words for people (headings, the status sentence, the signature line) are written in the
report's language: each format's entry point runs under ``in_report_language``. Machine codes
(LOINC, HL7 and DICOM codes, the status codes below) stay as they are in every language."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from readingcenter.delivery.document import AIFinding, ReportDocument

T = TypeVar("T")

# LOINC 18748-4 is the document type every receiver files a radiology report under.
REPORT_CODE = ("18748-4", "LN", "Diagnostic imaging study")
LOINC_SYSTEM = "http://loinc.org"

# The statuses a format accepts, as codes (DICOM's document title keeps these in English).
STATUS_LABELS = {"preliminary": "PRELIMINARY", "final": "FINAL", "amended": "AMENDED"}
# ... and as people read them, in the report's language.
STATUS_WORDS = {
    "preliminary": pgettext_lazy("report status", "PRELIMINARY"),
    "final": pgettext_lazy("report status", "FINAL"),
    "amended": pgettext_lazy("report status", "AMENDED"),
}

CRITICAL_CATEGORIES = {
    "minutes": gettext_lazy("ACR category 1: communicate within minutes"),
    "hours": gettext_lazy("ACR category 2: communicate within hours"),
    "days": gettext_lazy("ACR category 3: communicate within days"),
}

# Kinds of object, the last-but-one arc of their UIDs (see ``derived_uid``).
UID_KIND_SR = 1
UID_KIND_PDF = 2

_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")


class FormatError(ValueError):
    """The document cannot be put into this format (the message says what to fix)."""


def in_report_language(build: Callable[..., T]) -> Callable[..., T]:
    """Run a format's entry point (its first argument the document) in the report's
    language, whatever language the caller (a page, a delivery job) has active."""

    @functools.wraps(build)
    def built(doc: ReportDocument, *args, **kwargs) -> T:
        with translation.override(doc.language or "en"):
            return build(doc, *args, **kwargs)

    return built


# What signing meant, as the signed row says it (in English: it is part of the signed content)
# and as a reader of the report's language reads it.
SIGNATURE_MEANINGS = {
    "preliminary report": pgettext_lazy("meaning of a signature", "preliminary report"),
    "final report": pgettext_lazy("meaning of a signature", "final report"),
    "addendum": pgettext_lazy("meaning of a signature", "addendum"),
}


def meaning_words(meaning: str) -> str:
    return str(SIGNATURE_MEANINGS.get(meaning, meaning))


def status_word(status: str) -> str:
    """``PRELIMINARY``, ``FINAL``, ``AMENDED`` in the active language."""
    return str(STATUS_WORDS.get(status, status.upper()))


def check_document(doc: ReportDocument) -> None:
    if doc.status not in STATUS_LABELS:
        raise FormatError(
            f"report {doc.report_id} v{doc.version_number} has status {doc.status!r}; "
            "only preliminary, final and amended reports are delivered"
        )
    if doc.signed_at.tzinfo is None:
        raise FormatError(f"report {doc.report_id}: signed_at must be timezone-aware")


# -- names ------------------------------------------------------------------------------------
def person_name(value: str) -> str:
    """A DICOM PN the way people read it, both scripts: ``Kim, Jisoo (김지수)``.

    The same rule as the pages (the studies app's template filter): one way to write a
    name everywhere a hospital may compare them.
    """
    from readingcenter.studies.templatetags.dicom import person_name as display

    return display(value or "")


def pn_groups(value: str) -> list[list[str]]:
    """A PN's groups (alphabetic, ideographic, phonetic), each as its five components."""
    return [(group.split("^") + [""] * 5)[:5] for group in (value or "").split("=")]


# -- times ------------------------------------------------------------------------------------
def hospital_zone(doc: ReportDocument) -> ZoneInfo:
    try:
        return ZoneInfo(doc.hospital_time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise FormatError(
            f"hospital {doc.hospital_code} has time zone {doc.hospital_time_zone!r}, which is "
            "not an IANA zone name; fix it in the hospital's settings"
        ) from exc


def local(doc: ReportDocument, when: dt.datetime) -> dt.datetime:
    return when.astimezone(hospital_zone(doc))


def local_text(doc: ReportDocument, when: dt.datetime) -> str:
    """``2025-03-14 18:26 KST (Asia/Seoul)``: the zone named, as a reader must not guess it."""
    moment = local(doc, when)
    abbreviation = moment.tzname() or ""
    zone = doc.hospital_time_zone or "UTC"
    named = f"{abbreviation} ({zone})" if abbreviation and abbreviation != zone else zone
    return f"{moment:%Y-%m-%d %H:%M} {named}"


def utc_offset(moment: dt.datetime) -> str:
    """``+0900`` (DICOM TimezoneOffsetFromUTC, HL7 TS suffix)."""
    return moment.strftime("%z") or "+0000"


# -- sections ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Section:
    key: str
    title: str
    text: str


def report_sections(doc: ReportDocument) -> list[Section]:
    """The radiologist's sections in reading order, empty ones left out."""
    sections = [
        Section("technique", _("Technique"), doc.technique),
        Section("comparison", _("Comparison"), doc.comparison),
        Section("findings", _("Findings"), doc.findings),
        Section("impression", _("Impression"), doc.impression),
    ]
    return [s for s in sections if s.text.strip()]


def critical_text(category: str) -> str:
    if category in CRITICAL_CATEGORIES:
        return str(CRITICAL_CATEGORIES[category])
    return _("category %(category)s") % {"category": category}


def ai_verdict(finding: AIFinding) -> str:
    if finding.confirmed is True:
        return _("AI-detected, confirmed by the radiologist")
    if finding.confirmed is False:
        return _("AI-detected, not confirmed by the radiologist")
    return _("AI-detected, not assessed by the radiologist")


def ai_line(finding: AIFinding) -> str:
    return _(
        "%(label)s: %(verdict)s (model %(model)s %(version)s, probability %(probability)s, "
        "threshold %(threshold)s)"
    ) % {
        "label": finding.label,
        "verdict": ai_verdict(finding),
        "model": finding.model_name,
        "version": finding.model_version,
        "probability": f"{finding.probability:.2f}",
        "threshold": f"{finding.threshold:.2f}",
    }


def status_sentence(doc: ReportDocument) -> str:
    """What the hospital must know about this version before reading it."""
    if doc.status == "preliminary":
        return _("PRELIMINARY REPORT: not final; a final report will follow.")
    if doc.status == "amended":
        if doc.replaces_version:
            return _("AMENDED REPORT: an addendum to the final report (version %(version)s).") % {
                "version": doc.replaces_version
            }
        return _("AMENDED REPORT: an addendum to the final report.")
    if doc.replaces_version:
        return _("FINAL REPORT: replaces the preliminary report (version %(version)s).") % {
            "version": doc.replaces_version
        }
    return _("FINAL REPORT")


def signature_line(doc: ReportDocument) -> str:
    """``Electronically signed by ... on <time>; meaning: final report.``"""
    return _(
        "Electronically signed by %(name)s (%(username)s) on %(when)s; meaning: %(meaning)s."
    ) % {
        "name": doc.signed_by_name,
        "username": doc.signed_by_username,
        "when": local_text(doc, doc.signed_at),
        "meaning": meaning_words(doc.signature_meaning),
    }


def full_text(doc: ReportDocument) -> str:
    """The whole report as plain text (FHIR's text form, and anything that wants it whole),
    its headings in the active language (the report's, under ``in_report_language``)."""
    lines = [
        _("%(center)s: diagnostic imaging report for %(hospital)s")
        % {"center": doc.reading_center_name, "hospital": doc.hospital_name},
        status_sentence(doc),
        "",
        _("Patient: %(name)s  ID: %(id)s")
        % {"name": person_name(doc.patient_name), "id": doc.patient_id},
        _("Birth date: %(date)s  Sex: %(sex)s")
        % {"date": doc.patient_birth_date or "", "sex": doc.patient_sex},
        _("Accession: %(accession)s  Study date: %(date)s")
        % {"accession": doc.accession_number, "date": doc.study_date or ""},
        _("Study: %(study)s (%(modality)s)")
        % {"study": doc.study_description or doc.requested_procedure, "modality": doc.modality},
        _("Referring physician: %(name)s") % {"name": person_name(doc.referring_physician_name)},
    ]
    if doc.clinical_history.strip():
        lines += ["", _("Clinical history:"), doc.clinical_history]
    if doc.is_amended and doc.addendum_text.strip():
        lines += ["", _("ADDENDUM:"), doc.addendum_text, "", _("Original report:")]
    for section in report_sections(doc):
        lines += ["", _("%(heading)s:") % {"heading": section.title}, section.text]
    if doc.critical_findings:
        lines += ["", _("Critical findings:")]
        lines += [f"- {c.finding} ({critical_text(c.category)})" for c in doc.critical_findings]
    if doc.ai_findings:
        lines += ["", _("AI findings (computer-aided triage):")]
        lines += [f"- {ai_line(a)}" for a in doc.ai_findings]
    lines += [
        "",
        signature_line(doc),
        _("Content SHA-256: %(hash)s") % {"hash": doc.content_sha256},
    ]
    return "\n".join(lines)


# -- UIDs -------------------------------------------------------------------------------------
def _hashed_uid(text: str) -> str:
    # 2.25 is the arc for UUID-derived UIDs; a name-based UUID keeps it deterministic.
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, text).int}"


def derived_uid(doc: ReportDocument, kind: int, *, version: int | None = None) -> str:
    """``<root>.<report_id>.<kind>`` for a series, ``...<kind>.<version>`` for an instance.

    The same version always gets the same UIDs, so a resend is the same instance (the
    receiver replaces or ignores it) rather than a duplicate. All versions of a report's
    SR share one series, as do its PDFs, numbered by version. A root too long for this
    (UIDs stop at 64 characters) falls back to a UID hashed from the same parts.
    """
    root = (doc.uid_root or "").strip().rstrip(".")
    if not _UID.match(root):
        raise FormatError(
            f"uid_root {doc.uid_root!r} is not a DICOM UID root (digits and dots, no leading "
            "zeros); set the reading center's UID root in the settings"
        )
    parts = [root, str(int(doc.report_id)), str(kind)]
    if version is not None:
        parts.append(str(int(version)))
    uid = ".".join(parts)
    return uid if len(uid) <= 64 else _hashed_uid(uid)


def device_uid(finding: AIFinding) -> str:
    """A stable UID for one model build (name, version, weights), as a DICOM device observer."""
    return _hashed_uid(
        f"readingcenter-model:{finding.model_name}:{finding.model_version}:{finding.weights_sha256}"
    )


def short_hash(text: str, length: int = 20) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length].upper()
