"""Two workers running the escalation pass at the same instant against PostgreSQL: every
(case, tier) step is taken by exactly one of them, with one set of notifications."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from readingcenter.sla.models import CaseEscalation, SlaNotification
from readingcenter.sla.services import case_escalation_perform, sla_escalate
from tests.critical.races import race
from tests.sla.conftest import UTC, open_case, reader

pytestmark = pytest.mark.django_db(transaction=True)
START = dt.datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


def test_two_workers_escalating_at_once_take_each_step_once(
    hospital_a, two_tiers, manager_with_email, mail
):
    reader("dr.on", hospital_a)
    cases = [open_case(hospital_a, completed_at=START, priority="urgent") for _ in range(6)]
    now = START + dt.timedelta(hours=3)

    taken, errors = race(2, lambda _i: sla_escalate(now=now))
    assert errors == []
    steps = Counter(step for run in taken for step in run)
    assert steps == {(c.pk, t.pk): 1 for c in cases for t in two_tiers}
    assert CaseEscalation.objects.count() == 12
    assert (
        SlaNotification.objects.filter(channel="in_app", recipient__username="dr.on").count() == 6
    )
    assert len(mail.outbox) == 6  # one manager alert per case, never two


def test_two_workers_on_the_same_step_one_acts_and_the_other_gets_nothing(
    hospital_a, two_tiers, manager
):
    case = open_case(hospital_a, completed_at=START, priority="urgent")
    now = START + dt.timedelta(hours=3)
    for _round in range(3):
        _results, errors = race(
            4, lambda _i: case_escalation_perform(case_id=case.pk, tier=two_tiers[1], now=now)
        )
        assert errors == []
    assert CaseEscalation.objects.filter(case=case, tier=two_tiers[1]).count() == 1
