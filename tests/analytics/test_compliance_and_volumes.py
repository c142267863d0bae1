"""Compliance is the share of cases signed by their due time; volumes count cases whose final
report was signed in the period, nothing open and nothing outside it."""

from __future__ import annotations

import datetime as dt

from readingcenter.analytics.selectors import Filters, overview, tat_breakdown
from tests.analytics.conftest import MARCH, at, signed_case


def test_compliance_counts_cases_signed_by_their_due_time(manager, hospital_a, radiologist):
    signed_case(hospital_a, arrived=at(3, 1), tat=30, target=60, reader=radiologist)
    signed_case(hospital_a, arrived=at(3, 2), tat=60, target=60, reader=radiologist)  # on time
    signed_case(hospital_a, arrived=at(3, 3), tat=61, target=60, reader=radiologist)  # late
    signed_case(hospital_a, arrived=at(3, 4), tat=500, target=240, priority="urgent",
                reader=radiologist)  # fmt: skip
    tat = tat_breakdown(user=manager, period=MARCH)
    assert (tat.overall.count, tat.overall.met) == (4, 2)
    assert tat.overall.compliance == 0.5
    priorities = {r.key: (r.count, r.met) for r in tat.by_priority}
    assert priorities == {"urgent": (1, 0), "routine": (3, 2)}


def test_volumes_leave_out_open_cases_and_other_months(manager, hospital_a, radiologist):
    signed_case(hospital_a, arrived=at(15, 12), tat=20, reader=radiologist)
    # Arrived in February, signed on 1 March: March's work.
    signed_case(hospital_a, arrived=dt.datetime(2026, 2, 28, 23, 50, tzinfo=dt.UTC), tat=20,
                reader=radiologist)  # fmt: skip
    # Arrived on 31 March, signed in April: not March's.
    signed_case(hospital_a, arrived=at(31, 23, 50), tat=20, reader=radiologist)
    signed_case(hospital_a, arrived=at(16, 12), tat=0, state="unread")
    tat = tat_breakdown(user=manager, period=MARCH)
    assert tat.overall.count == 2


def test_filters_narrow_every_figure(manager, hospital_a, hospital_b, radiologist):
    signed_case(hospital_a, arrived=at(3, 1), tat=30, modality="CT", priority="stat",
                reader=radiologist)  # fmt: skip
    signed_case(hospital_a, arrived=at(3, 2), tat=90, modality="MR", reader=radiologist)
    signed_case(hospital_b, arrived=at(3, 3), tat=90, modality="CT", reader=radiologist)

    def count(**filters):
        return tat_breakdown(user=manager, period=MARCH, filters=Filters(**filters)).overall.count

    assert count(modality="CT") == 2
    assert count(priority="stat") == 1
    only_b = tat_breakdown(user=manager, period=MARCH, filters=Filters(hospital="beta"))
    assert [r.key for r in only_b.by_hospital] == ["beta"]


def test_the_overview_counts_the_open_queue_and_the_period(manager, hospital_a, radiologist):
    now = at(20, 12)
    signed_case(hospital_a, arrived=at(19, 12), tat=30, target=60, reader=radiologist)
    signed_case(hospital_a, arrived=at(19, 13), tat=90, target=60, reader=radiologist)
    # Open: one breached (due 11:00), one at risk (at risk from 11:45, due 12:00 +), one fine.
    signed_case(hospital_a, arrived=at(20, 10), tat=0, target=60, priority="stat", state="unread")
    signed_case(hospital_a, arrived=at(20, 10, 50), tat=0, target=80, priority="stat",
                state="unread")  # fmt: skip
    signed_case(hospital_a, arrived=at(20, 11, 59), tat=0, target=600, state="unread")
    ov = overview(user=manager, period=MARCH, now=now)
    queue = {q.priority: q for q in ov.queue}
    assert (queue["stat"].open, queue["stat"].breached, queue["stat"].at_risk) == (2, 1, 1)
    assert queue["stat"].oldest_arrived_at == at(20, 10)
    assert (queue["routine"].open, queue["urgent"].open) == (1, 0)
    assert (ov.signed, ov.met, ov.compliance) == (2, 1, 0.5)
    assert [(r.key, r.count, r.met) for r in ov.compliance_by_hospital] == [("alpha", 2, 1)]
