"""A worker killed in the middle of a pass: the step that committed stays done once, the one
it was doing when it died is done by the next pass, once."""

from __future__ import annotations

import datetime as dt

import pytest

from readingcenter.audit.models import AuditEvent
from readingcenter.sla import services
from readingcenter.sla.models import CaseEscalation, SlaNotification
from tests.sla.conftest import UTC, open_case, reader

pytestmark = pytest.mark.django_db(transaction=True)
START = dt.datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


class WorkerKilled(BaseException):
    """What the process sees of a SIGKILL: nothing after this line runs, no except catches it."""


def test_a_crash_after_the_first_tier_committed_repeats_nothing(
    hospital_a, two_tiers, manager_with_email, mail, monkeypatch
):
    reader("dr.on", hospital_a)
    case = open_case(hospital_a, completed_at=START, priority="urgent")
    now = START + dt.timedelta(hours=3)
    real_managers = services._managers

    def die(*args, **kwargs):  # inside the second tier's transaction, after its row insert
        raise WorkerKilled

    monkeypatch.setattr(services, "_managers", die)
    with pytest.raises(WorkerKilled):
        services.sla_escalate(now=now)
    [done] = CaseEscalation.objects.filter(case=case)
    assert done.tier == two_tiers[0]  # committed before the crash
    assert not CaseEscalation.objects.filter(tier=two_tiers[1]).exists()  # rolled back whole
    before = SlaNotification.objects.filter(escalation=done).count()

    monkeypatch.setattr(services, "_managers", real_managers)  # the restarted worker
    assert services.sla_escalate(now=now) == [(case.pk, two_tiers[1].pk)]
    assert services.sla_escalate(now=now + dt.timedelta(minutes=1)) == []
    assert SlaNotification.objects.filter(escalation=done).count() == before == 1
    assert AuditEvent.objects.filter(action="case.escalate").count() == 2
    assert len(mail.outbox) == 1


def test_an_email_whose_worker_died_while_sending_is_not_sent_again(
    hospital_a, two_tiers, manager_with_email, mail, monkeypatch
):
    case = open_case(hospital_a, completed_at=START, priority="urgent")
    monkeypatch.setattr(services, "_send_email", lambda n: (_ for _ in ()).throw(WorkerKilled))
    with pytest.raises(WorkerKilled):
        services.sla_escalate(now=START + dt.timedelta(hours=3))
    email = SlaNotification.objects.get(case=case, channel="email")
    assert email.outcome == "sending"  # claimed, and maybe sent: never repeated
    monkeypatch.undo()
    services.sla_escalate(now=START + dt.timedelta(hours=4))
    email.refresh_from_db()
    assert email.outcome == "sending" and mail.outbox == []
