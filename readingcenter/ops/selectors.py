"""The manager's live picture of the reading center, computed from the database on each ask.

Nothing here is cached or kept in a process: the page and the API refetch these figures on
every hint and on a poll, so a restart or a lost hint never leaves them wrong for long.
Managers only: the callers check the role; these reads cover every hospital.

Query budget (``dashboard``): one aggregate over the open queue (the partial indexes on open
cases keep it the size of the queue, not the archive), one for the oldest case of each group,
one for the at-risk and breached cases, one for the radiologists with their load and reads,
two for failed deliveries and open critical results, and four for coverage (the readers on
duty, the unread queue by what it needs, the uncovered cases named, the hospitals' policies).
"""

from __future__ import annotations

import datetime as dt

from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import (
    Count,
    DateTimeField,
    Exists,
    F,
    Func,
    IntegerField,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from readingcenter.accounts.models import Role, Shift, User
from readingcenter.critical.models import CriticalResult
from readingcenter.critical.models import State as CriticalState
from readingcenter.delivery.models import Delivery, DeliveryState
from readingcenter.ops.coverage import coverage
from readingcenter.reports.models import Report, ReportState
from readingcenter.studies.models import Priority
from readingcenter.worklist.models import OPEN_STATES, Case, CaseState
from readingcenter.worklist.selectors import uncovered_cases
from triage.monitoring import model_versions_monitoring

# How many at-risk / breached cases, failed deliveries and open critical results the dashboard
# lists by name; the counts are always complete and link to the full lists.
LIST_LIMIT = 50
# A radiologist off duty still shows the reads of a shift that ended this recently.
RECENT_SHIFT = dt.timedelta(hours=12)

CLAIMED_STATES = (CaseState.CLAIMED, CaseState.IN_REPORT)


class _First(Func):
    """``(array)[1]``: the first element of an ordered ARRAY_AGG (the group's oldest case)."""

    template = "(%(expressions)s)[1]"
    output_field = IntegerField()


def _open_cases() -> QuerySet[Case]:
    return Case.objects.filter(state__in=OPEN_STATES)


def _group_rows(now) -> list[dict]:
    """One row per (priority, hospital) of the open queue with its counts and oldest case."""
    return list(
        _open_cases()
        .values("priority", "hospital_id", "hospital__code", "hospital__name")
        .annotate(
            open=Count("id"),
            unread=Count("id", filter=Q(state=CaseState.UNREAD)),
            at_risk=Count("id", filter=Q(at_risk_at__lte=now, due_at__gt=now)),
            breached=Count("id", filter=Q(due_at__lte=now)),
            ai_flagged=Count("id", filter=Q(ai_flagged=True)),
            oldest_arrived_at=Min("arrived_at"),
            oldest_case_id=_First(ArrayAgg("id", order_by=("arrived_at", "id"))),
        )
        .order_by()
    )


def _empty_bucket(**key) -> dict:
    return {
        **key,
        "open": 0,
        "unread": 0,
        "at_risk": 0,
        "breached": 0,
        "ai_flagged": 0,
        "oldest": None,
    }


def _fold(bucket: dict, row: dict, now) -> None:
    for name in ("open", "unread", "at_risk", "breached", "ai_flagged"):
        bucket[name] += row[name]
    oldest = bucket["oldest"]
    if oldest is None or (row["oldest_arrived_at"], row["oldest_case_id"]) < (
        oldest["arrived_at"],
        oldest["case_id"],
    ):
        bucket["oldest"] = {
            "case_id": row["oldest_case_id"],
            "arrived_at": row["oldest_arrived_at"],
            "waiting_seconds": int((now - row["oldest_arrived_at"]).total_seconds()),
        }


def _case_row(case: Case, now) -> dict:
    return {
        "case_id": case.id,
        "study_id": case.study_id,
        "hospital_code": case.hospital.code,
        "priority": case.priority,
        "state": case.state,
        "accession_number": case.study.accession_number,
        "modality": case.modality,
        "body_part": case.body_part,
        "arrived_at": case.arrived_at,
        "due_at": case.due_at,
        "seconds_left": case.seconds_left(now),
        "sla_status": case.sla_status(now),
        "claimed_by": case.claimed_by.get_username() if case.claimed_by_id else None,
        "ai_flagged": case.ai_flagged,
    }


def at_risk_cases(*, now=None) -> QuerySet[Case]:
    """Open cases past their at-risk point, the nearest deadline (or the longest over) first."""
    now = now or timezone.now()
    return (
        _open_cases()
        .filter(at_risk_at__lte=now)
        .select_related("study", "hospital", "claimed_by")
        .only(
            "id",
            "state",
            "priority",
            "hospital__code",
            "study_id",
            "study__accession_number",
            "modality",
            "body_part",
            "arrived_at",
            "due_at",
            "at_risk_at",
            "ai_flagged",
            "claimed_by_id",
            "claimed_by__username",
        )
        .order_by("due_at", "id")
    )


def radiologist_status(*, now=None) -> list[dict]:
    """Each active radiologist: on duty, the cases he holds, the reports he signed this shift.

    "This shift" is the shift he is on now, or the one that ended within RECENT_SHIFT (a
    manager looking just after the handover still sees what the night did); otherwise none.
    """
    now = now or timezone.now()
    current = Shift.objects.filter(
        radiologist_id=OuterRef("pk"), starts_at__lte=now, ends_at__gt=now
    )
    recent = Shift.objects.filter(
        radiologist_id=OuterRef("pk"), starts_at__lte=now, ends_at__gt=now - RECENT_SHIFT
    ).order_by("-starts_at")
    reads = (
        Report.objects.filter(
            signed_by_id=OuterRef("pk"),
            state=ReportState.SIGNED,
            signed_at__gte=OuterRef("shift_started_at"),
            signed_at__lte=now,
        )
        .order_by()
        .values("signed_by_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    claimed = (
        Case.objects.filter(claimed_by_id=OuterRef("pk"), state__in=CLAIMED_STATES)
        .order_by()
        .values("claimed_by_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    users = (
        User.objects.filter(role=Role.RADIOLOGIST, is_active=True)
        .annotate(
            on_duty=Exists(current),
            shift_started_at=Subquery(recent.values("starts_at")[:1], output_field=DateTimeField()),
            shift_ends_at=Subquery(recent.values("ends_at")[:1], output_field=DateTimeField()),
            claimed=Coalesce(Subquery(claimed, output_field=IntegerField()), Value(0)),
        )
        .annotate(reads=Coalesce(Subquery(reads, output_field=IntegerField()), Value(0)))
        .order_by(F("on_duty").desc(), "last_name", "username")
    )
    return [
        {
            "id": u.id,
            "username": u.get_username(),
            "name": u.get_full_name() or u.get_username(),
            "on_duty": u.on_duty,
            "shift_started_at": u.shift_started_at,
            "shift_ends_at": u.shift_ends_at,
            "claimed": u.claimed,
            "reads_this_shift": u.reads,
        }
        for u in users
    ]


def failed_deliveries() -> QuerySet[Delivery]:
    return (
        Delivery.objects.filter(state=DeliveryState.FAILED)
        .select_related("endpoint", "hospital", "report", "report__study")
        .order_by("-updated_at", "-id")
    )


def open_critical_results() -> QuerySet[CriticalResult]:
    return (
        CriticalResult.objects.filter(state=CriticalState.OPEN)
        .select_related("hospital", "study")
        .order_by("due_at", "id")
    )


def dashboard(*, now=None) -> dict:
    """Every figure of the operations dashboard, as plain values (the page and the API)."""
    now = now or timezone.now()
    rows = _group_rows(now)
    total = _empty_bucket()
    by_priority = {p: _empty_bucket(priority=p, label=label) for p, label in Priority.choices}
    by_hospital: dict[int, dict] = {}
    for row in rows:
        _fold(total, row, now)
        _fold(by_priority[row["priority"]], row, now)
        bucket = by_hospital.setdefault(
            row["hospital_id"],
            _empty_bucket(
                hospital_id=row["hospital_id"],
                code=row["hospital__code"],
                name=row["hospital__name"],
            ),
        )
        _fold(bucket, row, now)

    risky = [_case_row(c, now) for c in at_risk_cases(now=now)[: 2 * LIST_LIMIT]]
    deliveries = failed_deliveries()
    delivery_items = list(deliveries[:LIST_LIMIT])
    critical = open_critical_results()
    critical_counts = critical.aggregate(
        open=Count("id"), overdue=Count("id", filter=Q(due_at__lte=now))
    )
    return {
        "now": now,
        "queue": total,
        "by_priority": list(by_priority.values()),
        "by_hospital": sorted(by_hospital.values(), key=lambda b: b["code"]),
        "breached": [c for c in risky if c["sla_status"] == "breached"][:LIST_LIMIT],
        "at_risk": [c for c in risky if c["sla_status"] == "at_risk"][:LIST_LIMIT],
        "ai_flags_waiting": total["ai_flagged"],
        "coverage": coverage(
            open_by_hospital={k: b["open"] for k, b in by_hospital.items()}, now=now
        ),
        "radiologists": radiologist_status(now=now),
        "failed_deliveries": {
            "count": deliveries.count(),
            "items": [
                {
                    "delivery_id": d.id,
                    "report_id": d.report_id,
                    "study_id": d.report.study_id,
                    "accession_number": d.report.study.accession_number,
                    "hospital_code": d.hospital.code,
                    "channel": d.channel,
                    "endpoint": d.endpoint.name,
                    "attempts": d.attempts,
                    "last_error_code": d.last_error_code,
                    "updated_at": d.updated_at,
                }
                for d in delivery_items
            ],
        },
        "critical_open": {
            "count": critical_counts["open"],
            "overdue": critical_counts["overdue"],
            "items": [
                {
                    "critical_result_id": r.id,
                    "study_id": r.study_id,
                    "accession_number": r.study.accession_number,
                    "hospital_code": r.hospital.code,
                    "category": r.category,
                    "level": r.level,
                    "raised_at": r.raised_at,
                    "due_at": r.due_at,
                    "seconds_left": r.seconds_left(now),
                }
                for r in critical[:LIST_LIMIT]
            ],
        },
    }


def ops_cases(*, filters: dict, now=None) -> QuerySet[Case]:
    """The cases behind a dashboard number the worklist's own filters cannot express:
    ``sla`` (at_risk, breached, risky = both), ``reader`` (cases a radiologist holds) and
    ``coverage`` (uncovered: unread, and no radiologist on duty may read them)."""
    now = now or timezone.now()
    qs = at_risk_cases(now=now) if filters.get("sla") else _open_cases()
    sla = filters.get("sla")
    if sla == "at_risk":
        qs = qs.filter(due_at__gt=now)
    elif sla == "breached":
        qs = qs.filter(due_at__lte=now)
    if filters.get("coverage") == "uncovered":
        qs = qs.filter(pk__in=uncovered_cases(now=now).values("pk"))
    if (reader := str(filters.get("reader", ""))).isdigit():
        qs = qs.filter(claimed_by_id=int(reader), state__in=CLAIMED_STATES)
    if value := filters.get("priority"):
        qs = qs.filter(priority=value)
    if value := filters.get("hospital"):
        qs = qs.filter(hospital__code=value)
    return qs.select_related("study", "hospital", "claimed_by").order_by("due_at", "id")


def reads_since(*, reader_id: int, since, now=None) -> QuerySet[Report]:
    """The reports a radiologist signed since ``since`` (a dashboard's "reads this shift")."""
    now = now or timezone.now()
    return (
        Report.objects.filter(
            signed_by_id=reader_id,
            state=ReportState.SIGNED,
            signed_at__gte=since,
            signed_at__lte=now,
        )
        .select_related("study", "hospital", "signed_by")
        .order_by("-signed_at", "-id")
    )


# -- AI models (triage's live monitoring, as the dashboard shows it) -------------------------


def ai_models(*, now=None) -> list[dict]:
    """Each model version a worker has loaded: state, the positive rate of the last hour and
    day against its band, score drift, alarms of the last day, studies awaiting it. Read from
    triage's monitoring (a fixed handful of queries, whatever the number of versions)."""
    rows = []
    for m in model_versions_monitoring(now=now or timezone.now()):
        version = m.version
        rows.append(
            {
                "model_name": version.model_name,
                "model_version": version.model_version,
                "state": version.state,
                "paused": version.is_paused,
                "loaded": m.loaded,
                "last_seen_at": version.last_seen_at,
                "expected_positive_rate": m.expected.expected_positive_rate,
                "band": [m.expected.low, m.expected.high],
                "min_studies": m.expected.min_studies,
                "defaults_used": m.expected.defaults_used,
                "windows": [
                    {
                        "window": w.window,
                        "label": str(w.label),
                        "studies": w.studies,
                        "positives": w.positives,
                        "rate": w.rate,
                        "low_confidence": w.low_confidence,
                        "out_of_band": w.out_of_band(m.expected),
                    }
                    for w in m.windows
                ],
                "drift": [
                    {"finding": d.finding, "psi": d.psi, "level": d.level, "note": d.note}
                    for d in m.drift
                ],
                "alarms": [
                    {
                        "id": a.id,
                        "kind": a.kind,
                        "window": a.window,
                        "fired_at": a.fired_at,
                        "message": a.message,
                    }
                    for a in m.alarms
                ],
                "awaiting": m.awaiting,
            }
        )
    return rows
