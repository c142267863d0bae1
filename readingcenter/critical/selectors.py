"""Reads of critical results, already narrowed to what the user may see (tenancy on the server).

A hospital user sees his hospital's results; a radiologist those of hospitals where he holds a
valid privilege today; a manager all of them. Anything else answers as if it did not exist.
"""

from __future__ import annotations

from django.db.models import Case, IntegerField, Prefetch, QuerySet, Value, When
from django.utils.translation import gettext as _

from readingcenter.accounts.selectors import privileged_hospitals_q
from readingcenter.critical.models import CriticalNotification, CriticalResult, State
from readingcenter.errors import NotFound

FILTERS = ("state", "hospital")

_RELATED = ("study", "hospital", "report", "report__signed_by", "acknowledged_by")


def _visible(user) -> QuerySet[CriticalResult]:
    qs = CriticalResult.objects.all()
    if not (getattr(user, "is_authenticated", False) and user.is_active):
        return qs.none()
    if user.is_manager:
        return qs
    if user.is_hospital_user and user.hospital_id:
        return qs.filter(hospital_id=user.hospital_id)
    if user.is_radiologist:
        return qs.filter(privileged_hospitals_q(user))
    return qs.none()


def _with_record(qs: QuerySet[CriticalResult]) -> QuerySet[CriticalResult]:
    """With the communication record: notifications in the order they were made."""
    notifications = CriticalNotification.objects.select_related("contact").order_by(
        "level", "created_at", "id"
    )
    return qs.select_related(*_RELATED).prefetch_related(
        Prefetch("notifications", queryset=notifications)
    )


def critical_results_list(*, user, filters: dict | None = None) -> QuerySet[CriticalResult]:
    """Open results first (the one due soonest on top), then the acknowledged, newest first.

    ``filters``: ``state`` (open, acknowledged; anything else: both) and ``hospital`` (code).
    """
    filters = filters or {}
    qs = _visible(user)
    if (state := filters.get("state")) in State.values:
        qs = qs.filter(state=state)
    if value := filters.get("hospital"):
        qs = qs.filter(hospital__code=value)
    open_first = Case(When(state=State.OPEN, then=Value(0)), default=Value(1),
                      output_field=IntegerField())  # fmt: skip
    return (
        _with_record(qs)
        .annotate(open_first=open_first)
        .order_by("open_first", Case(When(state=State.OPEN, then="due_at")), "-raised_at", "-id")
    )


def critical_result_get(*, user, id: int) -> CriticalResult:
    result = _with_record(_visible(user)).filter(pk=id).first()
    if result is None:
        # Another hospital's result and one that does not exist look the same.
        raise NotFound(_("No such critical result."))
    return result


def critical_results_for_report(*, report) -> list[CriticalResult]:
    """The communication record a report page shows: the critical results of the report's
    study raised by this version or an earlier one (a final report repeating its
    preliminary's finding does not raise it again, so the earlier result is its record).

    The caller has already decided that the user may see the report.
    """
    qs = CriticalResult.objects.filter(study_id=report.study_id)
    if report.version_number is not None:
        qs = qs.filter(report__version_number__lte=report.version_number)
    return list(_with_record(qs).order_by("raised_at", "position", "id"))
