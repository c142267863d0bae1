"""Managers configure through the admin too: each save goes through the services (open cases
move, the audit trail has it)."""

from __future__ import annotations

import pytest
from django.test import Client

from readingcenter.accounts.models import Role, User
from readingcenter.audit.models import AuditEvent
from readingcenter.sla.models import EscalationTier, SlaPolicy
from tests.sla.conftest import at, open_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(db):
    user = User.objects.create_user(
        username="boss", password="x", role=Role.ADMIN, is_staff=True, is_superuser=True
    )
    client = Client()
    client.force_login(user)
    return client


def test_an_escalation_tier_added_in_the_admin_is_audited(admin_client, hospital_a):
    response = admin_client.post(
        "/admin/sla/escalationtier/add/",
        {"hospital": hospital_a.pk, "position": 1, "name": "", "priority": "",
         "trigger": "breached", "percent_used": "", "action": "alert_manager",
         "is_active": "on"},
    )  # fmt: skip
    assert response.status_code == 302, response.content[:2000]
    tier = EscalationTier.objects.get()
    assert AuditEvent.objects.filter(action="escalation_tier.create", target_id=str(tier.pk))


def test_business_hours_added_in_the_admin_move_open_cases(admin_client, lakeview, manager):
    from readingcenter.sla import services

    services.business_hours_set(hospital=lakeview, hours=[(0, "08:00", "17:00")], actor=manager)
    services.sla_policy_set(hospital=lakeview, priority="routine", target_minutes=120,
                            calendar="business_hours", actor=manager)  # fmt: skip
    case = open_case(lakeview, completed_at=at("America/Chicago", 2026, 6, 8, 16, 0))  # Monday
    assert case.due_at == at("America/Chicago", 2026, 6, 15, 9, 0)  # next Monday
    response = admin_client.post(
        "/admin/sla/businesshours/add/",
        {"hospital": lakeview.pk, "weekday": 1, "opens_at": "08:00", "closes_at": "17:00"},
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.due_at == at("America/Chicago", 2026, 6, 9, 9, 0)  # Tuesday now


def test_a_policy_added_in_the_admin_keeps_its_clock(admin_client, hospital_a):
    response = admin_client.post(
        "/admin/sla/slapolicy/add/",
        {"hospital": hospital_a.pk, "priority": "stat", "target_minutes": 30,
         "at_risk_percent": 75, "clock_end": "preliminary", "calendar": "24x7"},
    )  # fmt: skip
    assert response.status_code == 302
    assert SlaPolicy.objects.get().clock_end == "preliminary"
