"""The dashboard's cost does not grow with the queue: the same few queries for 3 cases as
for 30, whatever the number of hospitals, priorities and radiologists."""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext

from readingcenter.accounts.models import Shift
from readingcenter.ops.selectors import dashboard
from tests.ops.conftest import case_with_clock, critical_result, failed_delivery, signed_report


def _queries(now) -> int:
    with CaptureQueriesContext(connection) as captured:
        dashboard(now=now)
    return len(captured)


def test_the_dashboard_takes_seven_queries_whatever_the_queue(
    hospital_a, hospital_b, radiologist, radiologist_b_only, now
):
    Shift.objects.create(
        radiologist=radiologist,
        starts_at=now - dt.timedelta(hours=1),
        ends_at=now + dt.timedelta(hours=1),
    )
    for i in range(3):
        case_with_clock(hospital_a, now, arrived_min=10 + i, due_in_min=-5 + 10 * i)
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
    assert small == _queries(now) <= 7
