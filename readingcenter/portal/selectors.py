"""What a hospital user sees of his own hospital's studies, from arrival to final report.

Every read is narrowed here to ``user.hospital_id``: a hospital user asking for another
hospital's study gets nothing (the views answer 404), and any other role gets nothing at all
(the reading center's people have the worklist, the board and the dashboard).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.db.models import Case as When_
from django.db.models import CharField, Exists, OuterRef, Prefetch, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from readingcenter.errors import NotFound
from readingcenter.reports.models import Report, ReportKind, ReportState
from readingcenter.studies.models import Order, Study, StudyStatus
from readingcenter.worklist.models import CaseState


class PortalStatus:
    """A study's place on its way to the hospital, the newest step that happened."""

    RECEIVED = "received"  # images arriving
    COMPLETE = "complete"  # all images here, waiting for a reader
    IN_READING = "in_reading"  # a radiologist holds it
    PRELIMINARY = "preliminary"  # a preliminary report is signed
    FINAL = "final"  # the final report is signed
    AMENDED = "amended"  # an addendum corrected the final report
    REJECTED = "rejected"  # the reading center will not read it (sent by mistake)
    REMOVED = "removed"  # a manager took it off the worklist (a duplicate)

    choices = [
        (RECEIVED, pgettext_lazy("portal status", "Received")),
        (COMPLETE, gettext_lazy("Complete, waiting")),
        (IN_READING, gettext_lazy("In reading")),
        (PRELIMINARY, gettext_lazy("Preliminary report")),
        (FINAL, gettext_lazy("Final report")),
        (AMENDED, gettext_lazy("Amended")),
        (REJECTED, gettext_lazy("Rejected")),
        (REMOVED, pgettext_lazy("portal status", "Removed")),
    ]
    labels = dict(choices)


FILTERS = ("status", "since", "until", "q")


def _signed(kind: str):
    return Exists(
        Report.objects.filter(study_id=OuterRef("pk"), state=ReportState.SIGNED, kind=kind)
    )


def _portal_status():
    # Reports first: a study whose case was signed is "final" even if a late series re-opened
    # it; the case's state only speaks while nothing is signed.
    return When_(
        When(has_addendum=True, then=Value(PortalStatus.AMENDED)),
        When(has_final=True, then=Value(PortalStatus.FINAL)),
        When(has_preliminary=True, then=Value(PortalStatus.PRELIMINARY)),
        When(status=StudyStatus.REJECTED, then=Value(PortalStatus.REJECTED)),
        When(case__state=CaseState.REMOVED, then=Value(PortalStatus.REMOVED)),
        When(
            case__state__in=[CaseState.CLAIMED, CaseState.IN_REPORT],
            then=Value(PortalStatus.IN_READING),
        ),
        When(status=StudyStatus.COMPLETE, then=Value(PortalStatus.COMPLETE)),
        default=Value(PortalStatus.RECEIVED),
        output_field=CharField(),
    )


def _is_hospital_user(user) -> bool:
    return bool(
        getattr(user, "is_authenticated", False)
        and user.is_active
        and user.is_hospital_user
        and user.hospital_id
    )


def _own_studies(user) -> QuerySet[Study]:
    if not _is_hospital_user(user):
        return Study.objects.none()
    # Quarantined studies stay out: one may carry another patient's images under a UID the
    # hospital reused, and nobody at the hospital can act on them here.
    return Study.objects.filter(hospital_id=user.hospital_id).exclude(
        status=StudyStatus.QUARANTINED
    )


def _day_bounds(day: dt.date, user) -> dt.datetime:
    zone = zoneinfo.ZoneInfo(getattr(user, "time_zone", "") or "UTC")
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min), zone)


def portal_studies(*, user, filters: dict | None = None) -> QuerySet[Study]:
    """The hospital's studies, newest first, each with ``portal_status``, its case (deadline)
    and its signed reports with their deliveries.

    ``filters``: ``status`` (a PortalStatus value), ``since``/``until`` (dates, the day the
    study arrived in the user's time zone, both included), ``q`` (accession number or patient
    ID, exactly; or part of the patient's name).
    """
    filters = filters or {}
    qs = (
        _own_studies(user)
        .select_related("case", "order")
        .annotate(
            has_addendum=_signed(ReportKind.ADDENDUM),
            has_final=_signed(ReportKind.FINAL),
            has_preliminary=_signed(ReportKind.PRELIMINARY),
        )
        .annotate(portal_status=_portal_status())
    )
    if (status := filters.get("status")) in PortalStatus.labels:
        qs = qs.filter(portal_status=status)
    if isinstance(since := filters.get("since"), dt.date):
        qs = qs.filter(received_at__gte=_day_bounds(since, user))
    if isinstance(until := filters.get("until"), dt.date):
        qs = qs.filter(received_at__lt=_day_bounds(until + dt.timedelta(days=1), user))
    if q := (filters.get("q") or "").strip():
        qs = qs.filter(Q(accession_number=q) | Q(patient_id=q) | Q(patient_name__icontains=q))
    signed = (
        Report.objects.filter(state=ReportState.SIGNED)
        .select_related("signed_by")
        .prefetch_related("deliveries__endpoint")
        .order_by("version_number")
    )
    return qs.prefetch_related(Prefetch("reports", queryset=signed, to_attr="signed_reports"))


def portal_study_get(*, user, study_id: int) -> Study:
    study = portal_studies(user=user).filter(pk=study_id).first()
    if study is None:
        # Another hospital's study and one that does not exist look the same.
        raise NotFound(_("No such study."))
    return study


def portal_orders(*, user, filters: dict | None = None) -> QuerySet[Order]:
    """The orders the hospital posted, newest first, with the study each matched (if any)."""
    filters = filters or {}
    if not _is_hospital_user(user):
        return Order.objects.none()
    qs = Order.objects.filter(hospital_id=user.hospital_id).select_related("study", "created_by")
    if q := (filters.get("q") or "").strip():
        qs = qs.filter(Q(accession_number=q) | Q(patient_id=q))
    return qs.order_by("-created_at", "-id")


def open_critical_count(*, user) -> int:
    from readingcenter.critical.models import CriticalResult, State

    if not _is_hospital_user(user):
        return 0
    return CriticalResult.objects.filter(hospital_id=user.hospital_id, state=State.OPEN).count()


def case_of(study: Study):
    """The study's case (its deadline), or None while it is still arriving."""
    try:
        return study.case
    except Study.case.RelatedObjectDoesNotExist:
        return None
