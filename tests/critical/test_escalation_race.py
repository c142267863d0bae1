"""Two workers running the escalation at the same moment against PostgreSQL: every step is
taken exactly once, with one set of notifications."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from readingcenter.audit.models import AuditEvent
from readingcenter.critical.models import CriticalNotification, CriticalResult
from readingcenter.critical.services import critical_result_notify, critical_results_escalate
from tests.critical.conftest import BLEED, PNEUMOTHORAX, sign_with_findings
from tests.critical.races import race

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_workers_escalating_at_once_take_each_step_once(
    hospital_a, radiologist, contacts_a, manager_with_email
):
    results = []
    for _ in range(5):
        _report, raised = sign_with_findings(hospital_a, radiologist, [BLEED, PNEUMOTHORAX])
        results += raised
    for result in results:
        critical_result_notify(critical_result_id=result.pk)
    now = max(r.due_at for r in results) + dt.timedelta(seconds=1)

    for round_ in range(2):  # level 1 -> 2, then (a window later) 2 -> 3
        escalated, errors = race(2, lambda _i, now=now: critical_results_escalate(now=now))
        assert errors == []
        steps = Counter(pk for ids in escalated for pk in ids)
        # Every result escalated by exactly one of the two workers.
        assert steps == {r.pk: 1 for r in results}, round_
        now = now + dt.timedelta(hours=2, seconds=1)

    assert set(CriticalResult.objects.values_list("level", flat=True)) == {3}
    managers = Counter(
        CriticalNotification.objects.filter(channel="manager").values_list(
            "critical_result_id", "level"
        )
    )
    assert managers == {(r.pk, level): 1 for r in results for level in (2, 3)}
    chief = CriticalNotification.objects.filter(recipient="chief@alpha.example")
    assert chief.count() == len(results)
    assert AuditEvent.objects.filter(action="critical_result.escalate").count() == 2 * len(results)
