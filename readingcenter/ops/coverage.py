"""The manager's blind spots on the dashboard: cases nobody on duty may read, and hospitals
whose cases run on a promise nobody agreed with them.

A hospital with open cases but no credentialed radiologist on duty shows nothing at risk
until its deadlines pass, and its cases are on no reader's "next case": the worklist's
eligibility rule (worklist.selectors.uncovered_groups) names them. Read-only, like the rest of
the dashboard; the alert to the managers for a STAT one is sla's (sla_alert_uncovered).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import Value
from django.utils import timezone

from readingcenter.hospitals.models import Hospital
from readingcenter.studies.models import Priority
from readingcenter.worklist.models import Case
from readingcenter.worklist.selectors import uncovered_cases, uncovered_groups

# How many uncovered cases the dashboard names; the counts are always complete.
LIST_LIMIT = 50


def _hospitals_without_policy(open_by_hospital: dict[int, int]) -> list[dict]:
    """Active hospitals missing a promise for some priority: their cases run on the reading
    center's default (settings.SLA_DEFAULT_MINUTES), which nobody agreed with them."""
    rows = (
        Hospital.objects.filter(is_active=True)
        .annotate(priorities=ArrayAgg("sla_policies__priority", distinct=True, default=Value([])))
        .order_by("code")
        .values("id", "code", "name", "priorities")
    )
    found = []
    for row in rows:
        missing = [p for p in Priority.values if p not in (row["priorities"] or [])]
        if missing:
            found.append(
                {
                    "hospital_id": row["id"],
                    "code": row["code"],
                    "name": row["name"],
                    "missing": missing,
                    "none": len(missing) == len(Priority.values),
                    "default_minutes": {p: settings.SLA_DEFAULT_MINUTES[p] for p in missing},
                    "open": open_by_hospital.get(row["id"], 0),
                }
            )
    return found


def coverage(*, open_by_hospital: dict[int, int], now=None) -> dict:
    """The manager's blind spots: unread cases no radiologist on duty may read (on no
    reader's "next case"), by hospital, the most urgent named with the managers' alert if
    one went out; and hospitals whose cases run on the default promise. Four queries."""
    now = now or timezone.now()
    groups = uncovered_groups(now=now)
    by_hospital: dict[int, dict] = {}
    for group in groups:
        row = by_hospital.setdefault(
            group["hospital_id"],
            {"code": group["hospital__code"], "name": group["hospital__name"], "count": 0,
             "stat": 0},
        )  # fmt: skip
        row["count"] += group["count"]
        row["stat"] += group["count"] if group["priority"] == Priority.STAT else 0
    cases = uncovered_cases(groups=groups).select_related("study", "hospital", "coverage_alert")
    items = []
    for case in cases[:LIST_LIMIT]:
        alert = getattr(case, "coverage_alert", None)
        items.append(
            {**_case_row_basic(case, now), "alerted_at": alert.raised_at if alert else None}
        )
    return {
        "uncovered": {
            "count": sum(r["count"] for r in by_hospital.values()),
            "stat": sum(r["stat"] for r in by_hospital.values()),
            "by_hospital": sorted(by_hospital.values(), key=lambda r: r["code"]),
            "items": items,
        },
        "hospitals_without_policy": _hospitals_without_policy(open_by_hospital),
    }


def _case_row_basic(case: Case, now) -> dict:
    return {
        "case_id": case.id,
        "hospital_code": case.hospital.code,
        "priority": case.priority,
        "accession_number": case.study.accession_number,
        "modalities": case.modalities,
        "subspecialty": case.subspecialty,
        "arrived_at": case.arrived_at,
        "due_at": case.due_at,
        "seconds_left": case.seconds_left(now),
        "ai_flagged": case.ai_flagged,
    }
