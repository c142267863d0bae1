"""A claim left idle returns to the pool, audited; a reader who is still there keeps it."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from readingcenter.audit.models import AuditEvent
from readingcenter.worklist import services
from readingcenter.worklist.models import AssignmentDecision, Case
from tests.conftest import api_as
from tests.factories import make_case

pytestmark = pytest.mark.django_db


def test_an_idle_claim_returns_to_the_pool(hospital_a, radiologist, settings):
    settings.WORKLIST_CLAIM_IDLE_MINUTES = 30
    idle = make_case(hospital_a)
    busy = make_case(hospital_a)
    services.case_claim(case_id=idle.pk, user=radiologist)
    services.case_claim(case_id=busy.pk, user=radiologist)
    Case.objects.filter(pk=idle.pk).update(
        last_activity_at=timezone.now() - dt.timedelta(minutes=31)
    )
    Case.objects.filter(pk=busy.pk).update(
        last_activity_at=timezone.now() - dt.timedelta(minutes=29)
    )

    assert services.claims_expire_idle() == [idle.pk]
    idle.refresh_from_db()
    busy.refresh_from_db()
    assert idle.state == "unread" and idle.claimed_by is None
    assert busy.state == "claimed" and busy.claimed_by == radiologist
    event = AuditEvent.objects.get(action="case.claim_expired", target_id=str(idle.pk))
    assert event.actor_label == "system:worklist" and event.detail["previous"] == "dr.who"
    decision = AssignmentDecision.objects.get(case=idle)
    assert decision.kind == "expired" and decision.previous == radiologist
    # Running again changes nothing: the rule is computed from the database.
    assert services.claims_expire_idle() == []


def test_the_case_pages_heartbeat_keeps_a_claim(hospital_a, radiologist, settings):
    case = make_case(hospital_a)
    services.case_claim(case_id=case.pk, user=radiologist)
    long_ago = timezone.now() - dt.timedelta(minutes=45)
    Case.objects.filter(pk=case.pk).update(last_activity_at=long_ago)
    assert api_as(radiologist).post(f"/api/v1/worklist/{case.pk}/heartbeat/").status_code == 204
    assert services.claims_expire_idle() == []
    case.refresh_from_db()
    assert case.state == "claimed" and case.last_activity_at > long_ago


def test_the_periodic_job_is_registered_on_the_sla_queue():
    from procrastinate.contrib.django import app

    from readingcenter.worklist import jobs

    assert jobs.claims_expire_idle.queue == "sla"
    assert any(
        task.periodic_id == "claims-expire-idle"
        for task in app.periodic_registry.periodic_tasks.values()
    )
