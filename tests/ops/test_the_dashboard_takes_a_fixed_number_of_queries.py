"""The dashboard's cost does not grow with the queue: the same few queries for 3 cases as
for 30, whatever the number of hospitals, priorities and radiologists, uncovered cases
included (seven for the queue and the lists, four for coverage)."""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext

from readingcenter.accounts.models import Shift
from readingcenter.hospitals.models import Hospital
from readingcenter.ops.selectors import dashboard
from tests.ops.conftest import case_with_clock, critical_result, failed_delivery, signed_report


def _queries(now) -> int:
    with CaptureQueriesContext(connection) as captured:
        dashboard(now=now)
    return len(captured)


def test_the_dashboard_takes_eleven_queries_whatever_the_queue(
    hospital_a, hospital_b, radiologist, radiologist_b_only, now
):
    Shift.objects.create(
        radiologist=radiologist,
        starts_at=now - dt.timedelta(hours=1),
        ends_at=now + dt.timedelta(hours=1),
    )
    # Nobody is credentialed at Gamma: its cases are uncovered, named on the dashboard.
    gamma = Hospital.objects.create(name="Gamma County", code="gamma", time_zone="UTC")
    for i in range(3):
        case_with_clock(hospital_a, now, arrived_min=10 + i, due_in_min=-5 + 10 * i)
    case_with_clock(gamma, now, arrived_min=3, due_in_min=20, priority="stat")
    small = _queries(now)
    for i in range(27):
        case = case_with_clock(
            (hospital_a, hospital_b)[i % 2],
            now,
            arrived_min=i,
            due_in_min=i - 5,
            priority=("stat", "urgent", "routine")[i % 3],
        )
        if i % 5 == 0:
            report = signed_report(case, radiologist, signed_at=now - dt.timedelta(minutes=1))
            failed_delivery(report)
            critical_result(report, now)
        case_with_clock(gamma, now, arrived_min=i, due_in_min=30, priority="urgent")
    assert dashboard(now=now)["coverage"]["uncovered"]["count"] == 28
    assert small == _queries(now) <= 11
