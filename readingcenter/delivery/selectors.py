"""Reads of deliveries, filtered for the user: a hospital sees what it is owed, managers all;
and a signed report as every channel carries it (``report_document``, ``report_pdf``)."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
from collections import OrderedDict

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Prefetch, QuerySet
from django.utils import translation

from readingcenter.accounts.selectors import privileged_hospitals_q
from readingcenter.delivery.document import (
    AIFinding,
    CodedConcept,
    CriticalFinding,
    ReportDocument,
)

# Called through its module, so a test can count the renderings.
from readingcenter.delivery.formats import pdf as pdf_format
from readingcenter.delivery.models import Delivery, RenderedPdf
from readingcenter.reports.models import Report

log = logging.getLogger(__name__)


def delivery_list(*, user, filters: dict | None = None) -> QuerySet[Delivery]:
    filters = filters or {}
    qs = Delivery.objects.select_related("endpoint", "report", "hospital")
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return qs.none()
    if user.is_hospital_user:
        qs = qs.filter(hospital_id=user.hospital_id)
    elif user.is_radiologist:
        qs = qs.filter(privileged_hospitals_q(user))
    elif not user.is_manager:
        return qs.none()
    if filters.get("state"):
        qs = qs.filter(state=filters["state"])
    if filters.get("report"):
        qs = qs.filter(report_id=filters["report"])
    if filters.get("hospital"):
        qs = qs.filter(hospital__code=filters["hospital"])
    return qs.order_by("-id")


# What the report API shows of each version's deliveries: their endpoint and their version
# number. The report selectors add it to their lists (hook "reports.report_prefetch").
REPORT_DELIVERIES = Prefetch(
    "deliveries",
    queryset=Delivery.objects.select_related("endpoint", "report").order_by("id"),
)


def deliveries_for_report(report: Report):
    """Where a signed version went (a draft went nowhere), from the list's prefetch if any."""
    if not report.is_signed:
        return []
    deliveries = report.deliveries.all()
    if "deliveries" not in getattr(report, "_prefetched_objects_cache", {}):
        # A report fresh from a service; a list from the selectors prefetched them all.
        deliveries = deliveries.select_related("endpoint", "report")
    return deliveries


# -- a signed report as the formats read it -------------------------------------------------------
# SNOMED CT codes for the findings the shipped models flag (the model card's own code wins).
_SNOMED = {"ich": ("1386000", "Intracranial hemorrhage"), "ptx": ("36118008", "Pneumothorax")}


def report_document(report: Report, *, idempotency_key: str = "") -> ReportDocument:
    """The signed version as the delivery formats read it (readingcenter/delivery/document)."""
    from readingcenter.reports.services import FINDING_NAMES

    study = report.study
    order = study.order
    by_finding = {entry["finding"]: entry for entry in report.ai_draft}
    outcome = {entry["finding"]: entry for entry in report.ai_acceptance}
    ai = []
    for key, entry in by_finding.items():
        code, label = _SNOMED.get(entry.get("code", ""), ("", entry.get("label", "")))
        verdict = outcome.get(key, {}).get("outcome")
        shown = entry.get("label") or label
        if entry.get("code") in FINDING_NAMES and report.language != "en":
            # The finding as a report in its language names it; the code's meaning stays.
            with translation.override(report.language):
                shown = str(FINDING_NAMES[entry["code"]])
        ai.append(
            AIFinding(
                finding=entry.get("code", key),
                label=shown,
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
        idempotency_key=idempotency_key or _version_key(report),
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
        language=report.language,
    )


# Rendered PDFs of signed versions, by (report id, digest of the document they are drawn from).
# Rendering costs a fifth of a second of CPU or more, and every endpoint, every retry and the
# portal send the same bytes: a version is rendered once (the worker does it as soon as it is
# signed: jobs.render_pdf), stored (RenderedPdf), and kept here for the next asks. The digest in
# the key means bytes are only reused for the very document they were rendered from.
_pdf_cache: OrderedDict[tuple[int, str], bytes] = OrderedDict()
_pdf_lock = threading.Lock()
_pdf_rendering: dict[tuple[int, str], threading.Lock] = {}
# Two drains' batches (services.DRAIN_BATCH) and what the portal asks for meanwhile.
PDF_CACHE_SIZE = 160


def document_digest(document: ReportDocument) -> str:
    """SHA-256 of everything the PDF is drawn from (its dataclass fields, as repr writes them)."""
    return hashlib.sha256(repr(document).encode()).hexdigest()


def report_pdf(report: Report, *, document: ReportDocument | None = None) -> bytes:
    """The signed version as PDF, the same bytes for the hospital portal and every channel.

    ``document``: the version's ``report_document`` if the caller has built it (any
    idempotency key; the PDF names the version's own). Endpoints drain in parallel threads
    and, after an outage, all reach the same version at once: the first renders (or reads the
    stored PDF), the others wait for its bytes instead of rendering it again.
    """
    key, document = _pdf_key(report, document)
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
        return _stored_or_rendered(key, document)  # the first one failed: try ourselves
    try:
        pdf = _stored_or_rendered(key, document)
        with _pdf_lock:
            _cache_put({key: pdf})
        return pdf
    finally:
        with _pdf_lock:
            del _pdf_rendering[key]
        rendering.release()


def report_pdfs_warm(reports: list[Report]) -> None:
    """Read the stored PDFs of these signed versions in one query, for ``report_pdf`` to find.

    A drain sends a batch of versions one after the other; one query for the batch instead
    of one per send. Versions with no stored PDF yet are left to ``report_pdf``.
    """
    keys = [_pdf_key(report)[0] for report in reports]
    with _pdf_lock:
        wanted = {key for key in keys if key not in _pdf_cache}
    if not wanted:
        return
    rows = RenderedPdf.objects.filter(
        report_id__in={report_id for report_id, _digest in wanted},
        document_sha256__in={digest for _report_id, digest in wanted},
    ).values_list("report_id", "document_sha256", "pdf")
    found = {(report_id, digest): bytes(pdf) for report_id, digest, pdf in rows}
    with _pdf_lock:
        _cache_put({key: pdf for key, pdf in found.items() if key in wanted})


def _pdf_key(
    report: Report, document: ReportDocument | None = None
) -> tuple[tuple[int, str], ReportDocument]:
    """(the cache and storage key of the version's PDF, the document it is drawn from).

    ``document``: the version's ``report_document`` under any idempotency key; the PDF names
    the version's own.
    """
    if document is None:
        document = report_document(report)
    else:
        document = dataclasses.replace(document, idempotency_key=_version_key(report))
    return (report.pk, document_digest(document)), document


def _cache_put(pdfs: dict[tuple[int, str], bytes]) -> None:
    """Keep these PDFs as the most recently used, the oldest beyond PDF_CACHE_SIZE dropped.

    The caller holds ``_pdf_lock``.
    """
    for key, pdf in pdfs.items():
        _pdf_cache[key] = pdf
        _pdf_cache.move_to_end(key)
    while len(_pdf_cache) > PDF_CACHE_SIZE:
        _pdf_cache.popitem(last=False)


def _version_key(report: Report) -> str:
    return f"{settings.READING_CENTER_CODE}-{report.id}"  # report_document's default


def _stored_or_rendered(key: tuple[int, str], document: ReportDocument) -> bytes:
    report_id, digest = key
    stored = (
        RenderedPdf.objects.filter(report_id=report_id, document_sha256=digest)
        .values_list("pdf", flat=True)
        .first()
    )
    if stored is not None:
        return bytes(stored)
    pdf = pdf_format.render_pdf(document)
    try:
        # Another process may have stored the same bytes meanwhile: the first row stays.
        with transaction.atomic():  # a savepoint: a caller's transaction outlives a failure
            RenderedPdf.objects.bulk_create(
                [RenderedPdf(report_id=report_id, document_sha256=digest, pdf=pdf)],
                ignore_conflicts=True,
            )
    except DatabaseError:
        # Not stored (the report's row is not visible to this connection, say): it is
        # still sent, and rendered again by the next process that needs it.
        log.warning("the PDF of report %s was rendered but not stored", report_id, exc_info=True)
    return pdf
