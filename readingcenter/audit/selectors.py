"""Searching the audit trail: managers and administrators only, every filter on an index.

The trail grows with every read of patient data (millions of rows a year), so the search
never counts its matches: pages are read with LIMIT n+1 to know whether another follows, and
the export walks the rows with a server-side cursor.
"""

from __future__ import annotations

import datetime as dt
import operator
import zoneinfo
from functools import reduce

from django.db.models import Q, QuerySet

from readingcenter import hooks
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
    its own target), so that "who looked at this study" has one answer. The apps that own those
    targets answer, each for its own (audit sits below them and does not know their models)."""
    # Hook point "audit.study_targets": gather(study_id=int) -> a Q on AuditEvent matching the
    # events about that app's targets that belong to the study (None when it has none).
    found = hooks.gather("audit.study_targets", study_id=study_id)
    if not found:
        return Q(pk__in=[])
    return reduce(operator.or_, found)


def _action_filter(value: str) -> Q:
    # Exact, or a prefix ending in "*": "report.*".
    return Q(action__startswith=value[:-1]) if value.endswith("*") else Q(action=value)


def _outcome_filter(value: str) -> Q:
    # An outcome that is not one of ours filters nothing out (as if it were not given).
    return Q(outcome=value) if value in Outcome.values else Q()


# filter -> the condition for a given value; a filter left empty is not applied.
_FIELD_FILTERS = {
    "user": lambda value: Q(actor_label=value),
    "patient_id": lambda value: Q(patient_id=value),
    "study": lambda value: _study_targets(int(value)),
    "target_type": lambda value: Q(target_type=value),
    "target_id": lambda value: Q(target_id=str(value)),
    "action": _action_filter,
    "outcome": _outcome_filter,
    "hospital": lambda value: Q(hospital_id=int(value)),
}


def _period_filter(since, until, user) -> Q:
    """A datetime is the exact moment; a date is the whole day in the user's zone."""
    q = Q()
    if isinstance(since, dt.datetime):
        q &= Q(at__gte=since)
    elif isinstance(since, dt.date):
        q &= Q(at__gte=_day_start(since, user))
    if isinstance(until, dt.datetime):
        q &= Q(at__lte=until)
    elif isinstance(until, dt.date):
        q &= Q(at__lt=_day_start(until + dt.timedelta(days=1), user))
    return q


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
    for name, condition in _FIELD_FILTERS.items():
        if value := filters.get(name):
            qs = qs.filter(condition(value))
    qs = qs.filter(_period_filter(filters.get("since"), filters.get("until"), user))
    return qs.order_by("-at", "-id")


def audit_page(qs: QuerySet[AuditEvent], *, page: int, size: int = 50) -> tuple[list, bool]:
    """One page of a search and whether another follows, without counting the matches."""
    page = max(1, page)
    rows = list(qs[(page - 1) * size : page * size + 1])
    return rows[:size], len(rows) > size
