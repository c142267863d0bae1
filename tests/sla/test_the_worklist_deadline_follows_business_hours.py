"""The worklist's due_at and at_risk_at come from the promise's clock: business hours in the
hospital's zone when the policy says so, and move when the calendar changes."""

from __future__ import annotations

import datetime as dt

import pytest

from readingcenter.sla import services
from readingcenter.sla.models import SlaPolicy
from readingcenter.worklist.models import Case
from tests.sla.conftest import at, open_case

pytestmark = pytest.mark.django_db
CHICAGO = "America/Chicago"


def test_a_case_arriving_on_friday_afternoon_is_due_on_monday(business_lakeview):
    case = open_case(business_lakeview, completed_at=at(CHICAGO, 2026, 6, 12, 15, 0))
    # 8 business hours: Friday 15-17 (2 h), Monday 08:00 + 6 h = 14:00.
    assert case.due_at == at(CHICAGO, 2026, 6, 15, 14, 0)
    # 75 %: 6 business hours: Friday 2 h, Monday 08:00 + 4 h = 12:00.
    assert case.at_risk_at == at(CHICAGO, 2026, 6, 15, 12, 0)


def test_a_policy_without_a_calendar_counts_around_the_clock(lakeview, manager):
    services.sla_policy_set(hospital=lakeview, priority="stat", target_minutes=30, actor=manager)
    case = open_case(lakeview, completed_at=at(CHICAGO, 2026, 6, 13, 3, 0), priority="stat")
    assert case.due_at == at(CHICAGO, 2026, 6, 13, 3, 30)


def test_existing_policies_keep_their_meaning_24_7_to_the_final(lakeview, manager):
    # The pre-clock signature: what load_demo and the worklist API still call.
    policy = services.sla_policy_set(
        hospital=lakeview, priority="urgent", target_minutes=60, actor=manager
    )
    assert (policy.clock_end, policy.calendar) == ("final", "24x7")
    assert SlaPolicy._meta.get_field("clock_end").default == "final"
    assert SlaPolicy._meta.get_field("calendar").default == "24x7"


def test_a_holiday_added_later_moves_the_open_cases_deadlines(business_lakeview, manager):
    case = open_case(business_lakeview, completed_at=at(CHICAGO, 2026, 6, 12, 15, 0))
    services.closed_date_set(
        hospital=business_lakeview, date=dt.date(2026, 6, 15), reason="Storm", actor=manager
    )
    case.refresh_from_db()
    assert case.due_at == at(CHICAGO, 2026, 6, 16, 14, 0)
    services.closed_date_remove(
        hospital=business_lakeview, date=dt.date(2026, 6, 15), actor=manager
    )
    assert Case.objects.get(pk=case.pk).due_at == at(CHICAGO, 2026, 6, 15, 14, 0)


def test_switching_a_promise_to_business_hours_moves_its_open_cases(lakeview, manager):
    services.sla_policy_set(
        hospital=lakeview, priority="routine", target_minutes=120, actor=manager
    )
    case = open_case(lakeview, completed_at=at(CHICAGO, 2026, 6, 12, 16, 0))
    assert case.due_at == at(CHICAGO, 2026, 6, 12, 18, 0)
    services.business_hours_set(
        hospital=lakeview, hours=[(d, "08:00", "17:00") for d in range(5)], actor=manager
    )
    services.sla_policy_set(
        hospital=lakeview, priority="routine", target_minutes=120,
        calendar="business_hours", actor=manager,
    )  # fmt: skip
    case.refresh_from_db()
    assert case.due_at == at(CHICAGO, 2026, 6, 15, 9, 0)


def test_a_business_hours_promise_needs_opening_hours(lakeview, manager):
    from readingcenter.errors import DomainError

    with pytest.raises(DomainError) as refused:
        services.sla_policy_set(
            hospital=lakeview, priority="routine", target_minutes=60,
            calendar="business_hours", actor=manager,
        )  # fmt: skip
    assert refused.value.code == "no_business_hours"
