"""Failed deliveries and unacknowledged critical results: counted in full, listed by name;
delivered or pending ones and acknowledged results are not counted."""

from __future__ import annotations

import datetime as dt

from readingcenter.delivery.models import Delivery
from readingcenter.ops.selectors import dashboard
from tests.ops.conftest import case_with_clock, critical_result, failed_delivery, signed_report


def test_failed_deliveries_and_open_critical_results_are_counted(
    hospital_a, hospital_b, radiologist, now
):
    reports = []
    for hospital in (hospital_a, hospital_b, hospital_a):
        case = case_with_clock(hospital, now, arrived_min=60, due_in_min=60)
        reports.append(signed_report(case, radiologist, signed_at=now - dt.timedelta(minutes=10)))
    failed = [failed_delivery(reports[0]), failed_delivery(reports[1])]
    Delivery.objects.filter(pk=failed_delivery(reports[2]).pk).update(state="delivered")
    overdue = critical_result(reports[0], now, due_in_min=-3)
    waiting = critical_result(reports[1], now, due_in_min=10)
    critical_result(reports[2], now, state="acknowledged")

    d = dashboard(now=now)

    assert d["failed_deliveries"]["count"] == 2
    assert {i["delivery_id"] for i in d["failed_deliveries"]["items"]} == {f.pk for f in failed}
    item = next(i for i in d["failed_deliveries"]["items"] if i["delivery_id"] == failed[1].pk)
    assert (item["hospital_code"], item["last_error_code"], item["attempts"]) == (
        "beta",
        "hl7_rejected",
        8,
    )
    assert d["critical_open"]["count"] == 2
    assert d["critical_open"]["overdue"] == 1
    # The one that escalates first comes first.
    assert [i["critical_result_id"] for i in d["critical_open"]["items"]] == [
        overdue.pk,
        waiting.pk,
    ]
    assert d["critical_open"]["items"][0]["seconds_left"] == -3 * 60
