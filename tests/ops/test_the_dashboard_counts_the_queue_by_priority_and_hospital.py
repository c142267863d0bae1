"""Queue depth, the oldest waiting case, at-risk and breached counts and AI flags waiting,
by priority and by hospital, on cases whose clocks were set by hand."""

from __future__ import annotations

from readingcenter.ops.selectors import dashboard
from readingcenter.worklist import services
from readingcenter.worklist.models import Case
from tests.ops.conftest import case_with_clock


def _row(rows, **key):
    (row,) = [r for r in rows if all(r[k] == v for k, v in key.items())]
    return row


def test_the_dashboard_counts_open_cases_by_priority_and_hospital(
    hospital_a, hospital_b, radiologist, now
):
    stat_old = case_with_clock(
        hospital_a, now, arrived_min=50, due_in_min=-20, priority="stat", ai_flagged=True
    )
    case_with_clock(hospital_a, now, arrived_min=10, due_in_min=10, priority="stat")  # at risk
    routine_b = case_with_clock(hospital_b, now, arrived_min=300, due_in_min=600)
    case_with_clock(hospital_b, now, arrived_min=5, due_in_min=700, ai_flagged=True)
    claimed = case_with_clock(hospital_a, now, arrived_min=30, due_in_min=200, priority="urgent")
    services.case_claim(case_id=claimed.pk, user=radiologist)
    # Closed cases count nowhere, however late they were.
    signed = case_with_clock(hospital_a, now, arrived_min=900, due_in_min=-500, priority="stat")
    Case.objects.filter(pk=signed.pk).update(state="signed", signed_at=now)

    d = dashboard(now=now)

    q = d["queue"]
    assert (q["open"], q["unread"], q["at_risk"], q["breached"], q["ai_flagged"]) == (5, 4, 1, 1, 2)
    assert q["oldest"]["case_id"] == routine_b.pk
    assert q["oldest"]["waiting_seconds"] == 300 * 60
    assert d["ai_flags_waiting"] == 2

    stat = _row(d["by_priority"], priority="stat")
    assert (stat["open"], stat["at_risk"], stat["breached"]) == (2, 1, 1)
    assert stat["oldest"]["case_id"] == stat_old.pk
    urgent = _row(d["by_priority"], priority="urgent")
    assert (urgent["open"], urgent["unread"]) == (1, 0)
    routine = _row(d["by_priority"], priority="routine")
    assert (routine["open"], routine["oldest"]["case_id"]) == (2, routine_b.pk)

    alpha = _row(d["by_hospital"], code="alpha")
    assert (alpha["open"], alpha["breached"], alpha["ai_flagged"]) == (3, 1, 1)
    assert alpha["oldest"]["case_id"] == stat_old.pk
    beta = _row(d["by_hospital"], code="beta")
    assert (beta["open"], beta["at_risk"], beta["oldest"]["case_id"]) == (2, 0, routine_b.pk)


def test_at_risk_and_breached_cases_are_listed_with_their_time_left(hospital_a, now):
    breached = case_with_clock(hospital_a, now, arrived_min=60, due_in_min=-15, priority="stat")
    at_risk = case_with_clock(hospital_a, now, arrived_min=40, due_in_min=12)
    case_with_clock(hospital_a, now, arrived_min=40, due_in_min=120)  # fine

    d = dashboard(now=now)

    assert [c["case_id"] for c in d["breached"]] == [breached.pk]
    assert d["breached"][0]["seconds_left"] == -15 * 60
    assert d["breached"][0]["sla_status"] == "breached"
    assert [c["case_id"] for c in d["at_risk"]] == [at_risk.pk]
    assert d["at_risk"][0]["seconds_left"] == 12 * 60
    assert d["at_risk"][0]["sla_status"] == "at_risk"


def test_an_empty_reading_center_shows_zeros_and_no_oldest_case(db, now):
    d = dashboard(now=now)
    assert d["queue"]["open"] == 0 and d["queue"]["oldest"] is None
    assert [b["open"] for b in d["by_priority"]] == [0, 0, 0]
    assert d["by_hospital"] == [] and d["breached"] == [] and d["at_risk"] == []
    assert d["failed_deliveries"]["count"] == 0 and d["critical_open"]["count"] == 0
