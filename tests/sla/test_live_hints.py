"""Escalation hints over Channels with the real Redis layer: each person told hears about
it on /ws/sla/ (SlaHintConsumer), managers hear about every step, nobody else does."""

from __future__ import annotations

import datetime as dt

import pytest

from readingcenter.sla.consumers import SlaHintConsumer
from readingcenter.sla.models import EscalationTier
from readingcenter.sla.services import sla_escalate
from tests.hints import hints_during
from tests.sla.conftest import UTC, open_case, reader

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("own_redis_prefix")]
START = dt.datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


def _hints_during(user, action, *, wait=2.0):
    return hints_during(SlaHintConsumer, "/ws/sla/", user, action, wait=wait)


def test_the_reader_told_and_the_managers_hear_of_the_step_and_others_do_not(hospital_a, manager):
    EscalationTier.objects.create(trigger="breached", action="notify_on_duty")
    told = reader("dr.on", hospital_a)
    other = reader("dr.mr", hospital_a, modalities=["MR"])
    case = open_case(hospital_a, completed_at=START, priority="urgent")
    late = START + dt.timedelta(hours=3)

    heard = _hints_during(told, lambda: sla_escalate(now=late))
    assert [(h["type"], h["case"], h["action"]) for h in heard] == [
        ("sla_escalation", case.pk, "notify_on_duty")
    ]
    second = open_case(hospital_a, completed_at=START, priority="urgent")
    assert [h["case"] for h in _hints_during(manager, lambda: sla_escalate(now=late))] == [
        second.pk
    ]
    third = open_case(hospital_a, completed_at=START, priority="urgent")
    assert _hints_during(other, lambda: sla_escalate(now=late)) == []
    assert third.escalations.count() == 1
