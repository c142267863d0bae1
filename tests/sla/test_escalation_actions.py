"""What each action does: tell the eligible readers on duty (or the case's reader), widen to
every privileged reader of the modality, auto-assign through the worklist, alert the
managers on the page and by e-mail; each person told sees it, each step is hinted after
commit."""

from __future__ import annotations

import datetime as dt

import pytest

from readingcenter.sla.models import CaseEscalation, EscalationTier, SlaNotification
from readingcenter.sla.services import sla_escalate
from readingcenter.worklist.models import AssignmentDecision, Case
from tests.sla.conftest import UTC, open_case, reader

pytestmark = pytest.mark.django_db
START = dt.datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
LATE = START + dt.timedelta(hours=3)


def _tier(action, trigger="breached", **fields):
    return EscalationTier.objects.create(trigger=trigger, action=action, **fields)


@pytest.fixture
def cast(hospital_a, hospital_b):
    return {
        "neuro_on": reader("neuro.on", hospital_a, subspecialties=["neuro"], modalities=["CT"]),
        "chest_on": reader("chest.on", hospital_a, subspecialties=["chest"], modalities=["CT"]),
        "neuro_off": reader("neuro.off", hospital_a, on_duty=False, subspecialties=["neuro"]),
        "mr_only": reader("mr.only", hospital_a, modalities=["MR"]),
        "beta_only": reader("beta.only", hospital_b),
    }


def _told(case):
    return set(
        SlaNotification.objects.filter(case=case, channel="in_app").values_list(
            "recipient__username", flat=True
        )
    )


def test_notify_on_duty_tells_only_the_eligible_readers_on_duty(hospital_a, cast):
    _tier("notify_on_duty")
    case = open_case(hospital_a, completed_at=START, priority="urgent", body_part_examined="HEAD")
    sla_escalate(now=LATE)
    assert _told(case) == {"neuro.on"}


def test_widening_the_pool_tells_every_privileged_reader_of_the_modality(hospital_a, cast):
    _tier("widen_pool")
    case = open_case(hospital_a, completed_at=START, priority="urgent", body_part_examined="HEAD")
    sla_escalate(now=LATE)
    assert _told(case) == {"neuro.on", "chest.on", "neuro.off"}


def test_a_claimed_case_tells_its_reader(hospital_a, cast):
    from readingcenter.worklist.services import case_claim

    _tier("notify_on_duty")
    case = open_case(hospital_a, completed_at=START, priority="urgent")
    case_claim(case_id=case.pk, user=cast["chest_on"])
    sla_escalate(now=LATE)
    assert _told(case) == {"chest.on"}


def test_auto_assign_gives_the_case_to_an_eligible_reader_on_duty(hospital_a, cast):
    tier = _tier("auto_assign")
    case = open_case(hospital_a, completed_at=START, priority="urgent", body_part_examined="HEAD")
    sla_escalate(now=LATE)
    case = Case.objects.get(pk=case.pk)
    assert (case.state, case.claimed_by.username) == ("claimed", "neuro.on")
    step = CaseEscalation.objects.get(case=case, tier=tier)
    assert step.assigned_to.username == "neuro.on" and step.outcome == "done"
    assert AssignmentDecision.objects.filter(case=case, kind="auto").count() == 1
    assert _told(case) == {"neuro.on"}


def test_auto_assign_leaves_a_claimed_case_with_its_reader(hospital_a, cast):
    from readingcenter.worklist.services import case_claim

    tier = _tier("auto_assign")
    case = open_case(hospital_a, completed_at=START, priority="urgent")
    case_claim(case_id=case.pk, user=cast["chest_on"])
    sla_escalate(now=LATE)
    step = CaseEscalation.objects.get(case=case, tier=tier)
    assert step.outcome == "skipped" and "chest.on" in step.detail
    assert Case.objects.get(pk=case.pk).claimed_by.username == "chest.on"


def test_alerting_the_managers_shows_it_to_each_and_mails_those_with_an_address(
    hospital_a, manager_with_email, mail, settings
):
    from readingcenter.accounts.models import Role, User

    settings.SITE_URL = "https://rc.example.org"
    User.objects.create_user(username="admin2", password="x", role=Role.ADMIN)
    _tier("alert_manager")
    case = open_case(hospital_a, completed_at=START, priority="urgent", patient_name="Hong^Gildong")
    sla_escalate(now=LATE)
    assert _told(case) == {"mgr", "admin2"}
    [message] = mail.outbox
    assert message.to == ["mgr@rc.example"]
    assert f"https://rc.example.org/cases/{case.pk}/" in message.body
    assert "Hong" not in message.body + message.subject  # no patient name by e-mail
    assert SlaNotification.objects.get(case=case, channel="email").outcome == "sent"


def test_a_failing_mail_server_is_recorded_not_raised(hospital_a, manager_with_email, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    _tier("alert_manager")
    case = open_case(hospital_a, completed_at=START, priority="urgent")
    sla_escalate(now=LATE)
    email = SlaNotification.objects.get(case=case, channel="email")
    assert email.outcome == "failed" and email.detail


@pytest.mark.django_db(transaction=True)  # real commits: hints leave only after one
def test_each_step_sends_hints_after_commit(hospital_a, cast, monkeypatch):
    from readingcenter.studies import hints

    sent = []
    monkeypatch.setattr(hints, "_enqueue", lambda batch: sent.append(batch))
    _tier("notify_on_duty")
    case = open_case(hospital_a, completed_at=START, priority="urgent", body_part_examined="HEAD")
    sent.clear()
    sla_escalate(now=LATE)
    groups = {group for batch in sent for messages in batch.values() for group, _ in messages}
    assert f"sla.user.{cast['neuro_on'].pk}" in groups
    assert "sla.managers" in groups and "worklist.all" in groups
    assert any(("case", case.pk) in batch for batch in sent)
