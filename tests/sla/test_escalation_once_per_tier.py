"""A case crossing at-risk and then breach escalates once per tier, however often the
periodic pass runs."""

from __future__ import annotations

import datetime as dt

import pytest

from readingcenter.audit.models import AuditEvent
from readingcenter.sla.models import CaseEscalation, SlaNotification
from readingcenter.sla.services import sla_escalate
from tests.sla.conftest import UTC, open_case, reader

pytestmark = pytest.mark.django_db
START = dt.datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


def test_a_case_crossing_at_risk_then_breach_takes_each_step_once(
    hospital_a, two_tiers, manager_with_email, mail
):
    at_risk, breached = two_tiers
    on_duty = reader("dr.on", hospital_a)
    case = open_case(hospital_a, completed_at=START, priority="urgent")  # 120 min, at risk at 90

    assert sla_escalate(now=START + dt.timedelta(minutes=89)) == []
    assert sla_escalate(now=START + dt.timedelta(minutes=91)) == [(case.pk, at_risk.pk)]
    assert sla_escalate(now=START + dt.timedelta(minutes=100)) == []
    assert sla_escalate(now=START + dt.timedelta(minutes=121)) == [(case.pk, breached.pk)]
    assert sla_escalate(now=START + dt.timedelta(minutes=121)) == []
    assert sla_escalate(now=START + dt.timedelta(hours=9)) == []

    steps = list(CaseEscalation.objects.filter(case=case).order_by("performed_at"))
    assert [(s.tier_id, s.outcome) for s in steps] == [(at_risk.pk, "done"), (breached.pk, "done")]
    assert steps[0].recipients == ["dr.on"]
    told = SlaNotification.objects.filter(case=case, channel="in_app")
    assert sorted(told.values_list("recipient__username", flat=True)) == ["dr.on", "mgr"]
    assert [m.to for m in mail.outbox] == [["mgr@rc.example"]]
    assert AuditEvent.objects.filter(action="case.escalate", target_id=str(case.pk)).count() == 2
    assert on_duty.sla_notifications.count() == 1


def test_a_case_found_late_takes_every_due_step_in_tier_order(hospital_a, two_tiers, manager):
    case = open_case(hospital_a, completed_at=START, priority="urgent")
    taken = sla_escalate(now=START + dt.timedelta(hours=5))
    assert taken == [(case.pk, two_tiers[0].pk), (case.pk, two_tiers[1].pk)]
    # Nobody on duty: the step is on record as having had nothing to do, and is not retried.
    first = CaseEscalation.objects.get(case=case, tier=two_tiers[0])
    assert first.outcome == "skipped" and "no eligible readers on duty" in first.detail
    assert sla_escalate(now=START + dt.timedelta(hours=6)) == []


def test_a_signed_case_never_escalates(hospital_a, two_tiers, manager):
    case = open_case(hospital_a, completed_at=START, priority="urgent")
    case.state, case.signed_at = "signed", START + dt.timedelta(minutes=30)
    case.save()
    assert sla_escalate(now=START + dt.timedelta(hours=5)) == []


def test_a_share_of_the_time_tier_fires_at_that_share(hospital_a, manager):
    from readingcenter.sla.models import EscalationTier

    half = EscalationTier.objects.create(trigger="percent", percent_used=50, action="alert_manager")
    case = open_case(hospital_a, completed_at=START, priority="urgent")  # 120 min
    assert sla_escalate(now=START + dt.timedelta(minutes=59)) == []
    assert sla_escalate(now=START + dt.timedelta(minutes=60)) == [(case.pk, half.pk)]


def test_a_hospital_with_its_own_tiers_does_not_use_the_global_ones(
    hospital_a, hospital_b, two_tiers, manager
):
    from readingcenter.sla.models import EscalationTier

    own = EscalationTier.objects.create(
        hospital=hospital_a, trigger="breached", action="alert_manager", priority="urgent"
    )
    a = open_case(hospital_a, completed_at=START, priority="urgent")
    b = open_case(hospital_b, completed_at=START, priority="urgent")
    taken = set(sla_escalate(now=START + dt.timedelta(hours=3)))
    assert taken == {(a.pk, own.pk), (b.pk, two_tiers[0].pk), (b.pk, two_tiers[1].pk)}


def test_a_long_queue_is_walked_to_its_end_in_batches(hospital_a, manager):
    from readingcenter.sla.models import EscalationTier

    tier = EscalationTier.objects.create(trigger="breached", action="alert_manager")
    cases = [open_case(hospital_a, completed_at=START, priority="urgent") for _ in range(7)]
    taken = sla_escalate(now=START + dt.timedelta(hours=3), batch=3)
    assert sorted(taken) == sorted((c.pk, tier.pk) for c in cases)
