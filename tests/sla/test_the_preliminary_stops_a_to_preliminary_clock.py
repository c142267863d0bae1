"""A to-preliminary promise is kept by the preliminary report: the case, still open for its
final, no longer escalates or counts as breached; a to-final promise keeps running."""

from __future__ import annotations

import datetime as dt

import pytest

from readingcenter.sla import services
from readingcenter.sla.selectors import case_clock
from readingcenter.sla.services import sla_escalate
from tests.sla.conftest import UTC, open_case

pytestmark = pytest.mark.django_db
START = dt.datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


def _preliminary(case, minutes):
    """As the reports code leaves it: the reader goes on to the final, the case stays open."""
    from readingcenter.accounts.models import User

    case.claimed_by = User.objects.get(username="dr.who")
    case.state, case.preliminary_at = "in_report", START + dt.timedelta(minutes=minutes)
    case.save()


def test_a_preliminary_in_time_stops_a_to_preliminary_clock(
    hospital_a, two_tiers, manager, radiologist
):
    services.sla_policy_set(hospital=hospital_a, priority="stat", target_minutes=30,
                            clock_end="preliminary", actor=manager)  # fmt: skip
    case = open_case(hospital_a, completed_at=START, priority="stat")
    _preliminary(case, 20)
    later = START + dt.timedelta(hours=2)
    clock = case_clock(case, now=later)
    assert (clock.status, clock.stopped_at, clock.is_running) == ("met", case.preliminary_at, False)
    assert sla_escalate(now=later) == []


def test_a_late_preliminary_is_a_missed_promise_but_escalates_no_further(
    hospital_a, two_tiers, manager, radiologist
):
    services.sla_policy_set(hospital=hospital_a, priority="stat", target_minutes=30,
                            clock_end="preliminary", actor=manager)  # fmt: skip
    case = open_case(hospital_a, completed_at=START, priority="stat")
    # At risk at 22.5 min, escalated; the preliminary comes at 40 min, after the deadline.
    assert sla_escalate(now=START + dt.timedelta(minutes=25)) == [(case.pk, two_tiers[0].pk)]
    _preliminary(case, 40)
    assert case_clock(case, now=START + dt.timedelta(minutes=41)).status == "missed"
    assert sla_escalate(now=START + dt.timedelta(minutes=41)) == []


def test_a_to_final_clock_runs_on_after_the_preliminary(
    hospital_a, two_tiers, manager, radiologist
):
    services.sla_policy_set(hospital=hospital_a, priority="stat", target_minutes=30, actor=manager)
    case = open_case(hospital_a, completed_at=START, priority="stat")
    _preliminary(case, 20)
    assert case_clock(case, now=START + dt.timedelta(minutes=31)).status == "breached"
    taken = sla_escalate(now=START + dt.timedelta(minutes=31))
    assert taken == [(case.pk, two_tiers[0].pk), (case.pk, two_tiers[1].pk)]
