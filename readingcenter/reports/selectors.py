"""Reads of reports, already filtered for the user asking.

A hospital user sees the signed versions of his own hospital's reports, never a draft; a
radiologist the reports of hospitals where his privilege is valid today; a manager all.
Anything else answers NotFound (404), like a report that does not exist.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from django.conf import settings
from django.db.models import Prefetch, QuerySet

from readingcenter.accounts.selectors import privileged_hospitals_q
from readingcenter.delivery.models import Delivery
from readingcenter.errors import NotFound
from readingcenter.reports.models import Macro, Report, ReportState, ReportTemplate

# SNOMED CT codes for the findings the shipped models flag (the model card's own code wins).
_SNOMED = {"ich": ("1386000", "Intracranial hemorrhage"), "ptx": ("36118008", "Pneumothorax")}


def _visible(user) -> QuerySet[Report]:
    qs = Report.objects.select_related("study", "hospital", "signed_by", "parent", "case")
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return qs.none()
    if user.is_manager:
        return qs
    if user.is_hospital_user:
        return qs.filter(hospital_id=user.hospital_id, state=ReportState.SIGNED)
    if user.is_radiologist:
        return qs.filter(privileged_hospitals_q(user))
    return qs.none()


# What the API shows of each version's deliveries: their endpoint and their version number.
_DELIVERIES = Prefetch(
    "deliveries",
    queryset=Delivery.objects.select_related("endpoint", "report").order_by("id"),
)


def report_list(*, user, filters: dict | None = None) -> QuerySet[Report]:
    filters = filters or {}
    qs = _visible(user)
    if filters.get("study"):
        qs = qs.filter(study_id=filters["study"])
    if filters.get("case"):
        qs = qs.filter(case_id=filters["case"])
    if filters.get("state"):
        qs = qs.filter(state=filters["state"])
    if filters.get("kind"):
        qs = qs.filter(kind=filters["kind"])
    if filters.get("accession_number"):
        qs = qs.filter(study__accession_number=filters["accession_number"])
    return qs.prefetch_related(_DELIVERIES).order_by("-signed_at", "-id")


def report_get(*, user, report_id: int) -> Report:
    report = _visible(user).prefetch_related(_DELIVERIES).filter(pk=report_id).first()
    if report is None:
        raise NotFound("No such report.")
    return report


def reports_for_case(*, user, case) -> list[Report]:
    return list(_visible(user).filter(case=case).order_by("version_number", "id"))


def draft_for_case(*, case) -> Report | None:
    return (
        Report.objects.filter(case=case, state=ReportState.DRAFT).exclude(kind="addendum").first()
    )


def signed_reports_for_study(*, user, study) -> list[Report]:
    return list(
        _visible(user)
        .filter(study=study, state=ReportState.SIGNED)
        .prefetch_related("deliveries__endpoint")
        .order_by("version_number")
    )


def macros_for(*, user) -> dict[str, str]:
    """Codes the user may type: the shared ones, overridden by his own."""
    macros = {m.code: m.text for m in Macro.objects.filter(owner=None)}
    macros.update({m.code: m.text for m in Macro.objects.filter(owner=user)})
    return dict(sorted(macros.items()))


def template_list() -> QuerySet[ReportTemplate]:
    return ReportTemplate.objects.filter(is_active=True)


# Rendered PDFs of signed versions, by (report id, content hash). Rendering costs about half a
# second of CPU (most of it fpdf2 reading the 16 MB CJK font collection), and every endpoint and
# every retry of a version sends the same bytes: render once per process. The hash in the key
# means a changed row (which the database forbids) could never be served from here.
_pdf_cache: OrderedDict[tuple[int, str], bytes] = OrderedDict()
_pdf_lock = threading.Lock()
_pdf_rendering: dict[tuple[int, str], threading.Lock] = {}
PDF_CACHE_SIZE = 64


def report_pdf(report: Report) -> bytes:
    """The signed version as PDF, the same bytes for the hospital portal and every channel.

    Endpoints drain in parallel threads and, after an outage, all reach the same version at
    once: the first renders, the others wait for its bytes instead of rendering it again.
    """
    from readingcenter.delivery.formats.pdf import render_pdf

    key = (report.pk, report.content_sha256)
    with _pdf_lock:
        if key in _pdf_cache:
            _pdf_cache.move_to_end(key)
            return _pdf_cache[key]
        rendering = _pdf_rendering.get(key)
        first = rendering is None
        if first:
            rendering = _pdf_rendering[key] = threading.Lock()
            rendering.acquire()
    if not first:
        with rendering:  # released when the first thread is done, whatever happened
            pass
        with _pdf_lock:
            if key in _pdf_cache:
                return _pdf_cache[key]
        return render_pdf(report_document(report))  # the first one failed: try ourselves
    try:
        pdf = render_pdf(report_document(report))
        with _pdf_lock:
            _pdf_cache[key] = pdf
            while len(_pdf_cache) > PDF_CACHE_SIZE:
                _pdf_cache.popitem(last=False)
        return pdf
    finally:
        with _pdf_lock:
            del _pdf_rendering[key]
        rendering.release()


def report_document(report: Report, *, idempotency_key: str = ""):
    """The signed version as the delivery formats read it (readingcenter/delivery/document)."""
    from readingcenter.delivery.document import (
        AIFinding,
        CodedConcept,
        CriticalFinding,
        ReportDocument,
    )

    study = report.study
    order = study.order
    by_finding = {entry["finding"]: entry for entry in report.ai_draft}
    outcome = {entry["finding"]: entry for entry in report.ai_acceptance}
    ai = []
    for key, entry in by_finding.items():
        code, label = _SNOMED.get(entry.get("code", ""), ("", entry.get("label", "")))
        verdict = outcome.get(key, {}).get("outcome")
        ai.append(
            AIFinding(
                finding=entry.get("code", key),
                label=entry.get("label") or label,
                code=CodedConcept(value=code or "118247008", meaning=label or "Radiologic finding"),
                probability=float(entry.get("probability") or 0.0),
                threshold=float(entry.get("threshold") or 0.0),
                model_name=entry["model_name"],
                model_version=entry["model_version"],
                weights_sha256=entry.get("weights_sha256", ""),
                confirmed=None if verdict is None else verdict != "removed",
            )
        )
    parent_version = report.parent.version_number if report.parent_id else None
    return ReportDocument(
        report_id=report.id,
        version_number=report.version_number,
        status=report.delivery_status,
        replaces_version=parent_version,
        idempotency_key=idempotency_key or f"{settings.READING_CENTER_CODE}-{report.id}",
        uid_root=settings.READING_CENTER_UID_ROOT,
        hospital_name=report.hospital.name,
        hospital_code=report.hospital.code,
        hospital_time_zone=report.hospital.time_zone,
        study_instance_uid=study.study_instance_uid,
        accession_number=study.accession_number,
        patient_id=study.patient_id,
        patient_name=study.patient_name,
        patient_birth_date=study.patient_birth_date,
        patient_sex=study.patient_sex,
        study_date=study.study_date,
        study_time=study.study_time,
        study_description=study.study_description,
        modality=(study.modalities or [""])[0],
        referring_physician_name=(order.referring_physician if order else "")
        or study.referring_physician_name,
        study_id="",  # the hospital's StudyID attribute is not kept; SR and PDF leave it empty
        requested_procedure=(order.requested_procedure if order else "")
        or study.requested_procedure_description,
        clinical_history=order.clinical_history if order else "",
        technique=report.technique,
        comparison=report.comparison,
        findings=report.findings,
        impression=report.impression,
        addendum_text=report.addendum_text,
        critical_findings=tuple(
            CriticalFinding(finding=c["finding"], category=c["category"])
            for c in report.critical_findings
        ),
        ai_findings=tuple(ai),
        signed_by_name=report.signature_name,
        signed_by_username=report.signed_by.get_username() if report.signed_by_id else "",
        signed_at=report.signed_at,
        signature_meaning=report.signature_meaning,
        content_sha256=report.content_sha256,
        reading_center_name=settings.READING_CENTER_NAME,
    )
