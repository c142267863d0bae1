"""Searching the audit trail: managers and administrators only, every filter on an index.

The trail grows with every read of patient data (millions of rows a year), so the search
never counts its matches: pages are read with LIMIT n+1 to know whether another follows, and
the export walks the rows with a server-side cursor.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.db.models import Q, QuerySet

from readingcenter.audit.models import AuditEvent, Outcome

FILTERS = (
    "user",
    "patient_id",
    "study",
    "target_type",
    "target_id",
    "action",
    "outcome",
    "hospital",
    "since",
    "until",
)

# What a line of the trail shows, in the API and in the CSV export alike.
EXPORT_FIELDS = (
    "id",
    "at",
    "actor",
    "actor_id",
    "action",
    "outcome",
    "target_type",
    "target_id",
    "hospital_id",
    "patient_id",
    "ip_address",
    "user_agent",
    "detail",
)


def _may_search(user) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_active and user.is_manager)


def _day_start(day: dt.date, user) -> dt.datetime:
    zone = zoneinfo.ZoneInfo(getattr(user, "time_zone", "") or "UTC")
    return dt.datetime.combine(day, dt.time.min, tzinfo=zone)


def _study_targets(study_id: int) -> Q:
    """Events about a study: the study itself, its case and its reports (each is audited under
    its own target), so that "who looked at this study" has one answer."""
    from readingcenter.reports.models import Report
    from readingcenter.worklist.models import Case

    sid = str(study_id)
    case_ids = [
        str(pk) for pk in Case.objects.filter(study_id=study_id).values_list("pk", flat=True)
    ]
    report_ids = [
        str(pk) for pk in Report.objects.filter(study_id=study_id).values_list("pk", flat=True)
    ]
    return (
        Q(target_type__in=["studies.study", "study"], target_id=sid)
        | Q(target_type="worklist.case", target_id__in=case_ids)
        | Q(target_type="reports.report", target_id__in=report_ids)
    )


def audit_events(*, user, filters: dict | None = None) -> QuerySet[AuditEvent]:
    """The trail, newest first, narrowed by ``filters`` (already parsed values):

    ``user`` (the username as recorded, or a system actor such as ``system:worklist``),
    ``patient_id``, ``study`` (a study id: the study, its case and its reports),
    ``target_type``/``target_id``, ``action`` (exact, or a prefix ending in ``*``: ``report.*``),
    ``outcome``, ``hospital`` (id), ``since``/``until`` (datetimes, or dates in the user's zone,
    both days included).
    """
    if not _may_search(user):
        return AuditEvent.objects.none()
    filters = filters or {}
    qs = AuditEvent.objects.all()
    if value := filters.get("user"):
        qs = qs.filter(actor_label=value)
    if value := filters.get("patient_id"):
        qs = qs.filter(patient_id=value)
    if value := filters.get("study"):
        qs = qs.filter(_study_targets(int(value)))
    if value := filters.get("target_type"):
        qs = qs.filter(target_type=value)
    if value := filters.get("target_id"):
        qs = qs.filter(target_id=str(value))
    if value := filters.get("action"):
        qs = (
            qs.filter(action__startswith=value[:-1])
            if value.endswith("*")
            else qs.filter(action=value)
        )
    if (value := filters.get("outcome")) in Outcome.values:
        qs = qs.filter(outcome=value)
    if value := filters.get("hospital"):
        qs = qs.filter(hospital_id=int(value))
    # A datetime is the exact moment; a date is the whole day in the user's zone.
    since, until = filters.get("since"), filters.get("until")
    if isinstance(since, dt.datetime):
        qs = qs.filter(at__gte=since)
    elif isinstance(since, dt.date):
        qs = qs.filter(at__gte=_day_start(since, user))
    if isinstance(until, dt.datetime):
        qs = qs.filter(at__lte=until)
    elif isinstance(until, dt.date):
        qs = qs.filter(at__lt=_day_start(until + dt.timedelta(days=1), user))
    return qs.order_by("-at", "-id")


def audit_page(qs: QuerySet[AuditEvent], *, page: int, size: int = 50) -> tuple[list, bool]:
    """One page of a search and whether another follows, without counting the matches."""
    page = max(1, page)
    rows = list(qs[(page - 1) * size : page * size + 1])
    return rows[:size], len(rows) > size
