"""No acknowledgement within the category's window: the next level and the managers are told,
one step per window, never twice; past the last contact the managers again each window."""

from __future__ import annotations

import datetime as dt

import pytest
from procrastinate.contrib.django.models import ProcrastinateJob

from readingcenter.audit.models import AuditEvent
from readingcenter.critical.models import CriticalResult
from readingcenter.critical.services import critical_result_notify, critical_results_escalate
from tests.critical.conftest import BLEED, NODULE, sign_with_findings

pytestmark = pytest.mark.django_db

SECOND = dt.timedelta(seconds=1)


def _raised_and_told(hospital, radiologist, findings=(BLEED,)):
    _report, results = sign_with_findings(hospital, radiologist, list(findings))
    for result in results:
        critical_result_notify(critical_result_id=result.pk)
    return results


def test_nothing_escalates_before_its_window(hospital_a, radiologist, contacts_a, smtp):
    [result] = _raised_and_told(hospital_a, radiologist)
    assert critical_results_escalate(now=result.due_at - SECOND) == []
    result.refresh_from_db()
    assert result.level == 1 and result.escalated_at is None


def test_an_unacknowledged_result_goes_to_level_two_and_the_managers_after_its_window(
    hospital_a, radiologist, contacts_a, manager_with_email, smtp
):
    [result] = _raised_and_told(hospital_a, radiologist)
    first_due = result.due_at
    now = first_due + SECOND
    assert critical_results_escalate(now=now) == [result.pk]
    result.refresh_from_db()
    assert (result.level, result.state, result.escalated_at) == (2, "open", now)
    assert result.due_at == now + dt.timedelta(minutes=15)  # a new window at level 2
    level2 = {(n.channel, n.recipient): n for n in result.notifications.filter(level=2)}
    assert set(level2) == {("email", "chief@alpha.example"), ("manager", "mgr@rc.example")}
    assert "not acknowledged within 15 min at level 1" in level2["manager", "mgr@rc.example"].detail
    # The escalation deferred the notify job; the worker's run sends what it planned.
    assert ProcrastinateJob.objects.filter(
        task_name="critical.notify", args={"critical_result_id": result.pk}
    ).count() == 2  # fmt: skip
    critical_result_notify(critical_result_id=result.pk)
    [chief_mail] = smtp.to("chief@alpha.example")
    assert "nobody at escalation level 1 acknowledged it in time" in chief_mail.body
    [manager_mail] = smtp.to("mgr@rc.example")
    assert manager_mail.subject.startswith("ESCALATED")
    assert "level 2: Dr Chief" in manager_mail.body
    assert len(smtp.to("ed@alpha.example")) == 1  # level 1 is not told again
    escalation = AuditEvent.objects.get(action="critical_result.escalate")
    assert escalation.detail["from_level"] == 1 and escalation.detail["to_level"] == 2


def test_escalating_twice_at_the_same_moment_takes_one_step(
    hospital_a, radiologist, contacts_a, manager_with_email, smtp
):
    [result] = _raised_and_told(hospital_a, radiologist)
    now = result.due_at + SECOND
    assert critical_results_escalate(now=now) == [result.pk]
    assert critical_results_escalate(now=now) == []
    assert critical_results_escalate(now=now + dt.timedelta(minutes=5)) == []
    result.refresh_from_db()
    assert result.level == 2
    assert result.notifications.filter(level=2, channel="manager").count() == 1
    assert AuditEvent.objects.filter(action="critical_result.escalate").count() == 1


def test_past_the_last_contact_the_managers_are_alerted_every_window(
    hospital_a, radiologist, contacts_a, manager_with_email, smtp
):
    [result] = _raised_and_told(hospital_a, radiologist)
    for expected_level in (2, 3, 4):
        critical_results_escalate(now=result.due_at + SECOND)
        result.refresh_from_db()
        assert result.level == expected_level
        critical_result_notify(critical_result_id=result.pk)
    by_level = {
        level: sorted(result.notifications.filter(level=level).values_list("channel", flat=True))
        for level in (1, 2, 3, 4)
    }
    assert by_level == {
        1: ["email", "portal"],
        2: ["email", "manager"],
        3: ["manager"],
        4: ["manager"],
    }
    assert "has no active contact at this level" in result.notifications.get(level=3).detail
    assert len(smtp.to("mgr@rc.example")) == 3
    assert len(smtp.to("chief@alpha.example")) == 1


def test_each_category_waits_its_own_window(hospital_a, radiologist, contacts_a, smtp):
    bleed, nodule = _raised_and_told(hospital_a, radiologist, (BLEED, NODULE))
    assert critical_results_escalate(now=bleed.due_at + SECOND) == [bleed.pk]
    # A day later the bleed has gone up tier after tier; the nodule only now reaches its window.
    assert nodule.pk not in critical_results_escalate(now=nodule.due_at - SECOND)
    assert CriticalResult.objects.get(pk=nodule.pk).level == 1
    assert nodule.pk in critical_results_escalate(now=nodule.due_at + SECOND)
    assert CriticalResult.objects.get(pk=nodule.pk).level == 2


def test_a_result_whose_first_notification_never_ran_still_tells_level_one_when_escalated(
    hospital_a, radiologist, contacts_a, manager_with_email, smtp
):
    # The worker was down: the notify job never ran before the window passed.
    _report, [result] = sign_with_findings(hospital_a, radiologist, [BLEED])
    critical_results_escalate(now=result.due_at + SECOND)
    critical_result_notify(critical_result_id=result.pk)
    assert len(smtp.to("ed@alpha.example")) == 1
    assert len(smtp.to("chief@alpha.example")) == 1
    assert result.notifications.filter(channel="manager").count() == 1
