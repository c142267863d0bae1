"""The demo's clocks and escalation tiers load after load_demo, and again without change."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from readingcenter.demo.sla import load_demo_sla
from readingcenter.sla.models import BusinessHours, ClosedDate, EscalationTier, SlaPolicy

pytestmark = pytest.mark.django_db


def test_the_demo_loads_its_clocks_and_tiers_once():
    call_command("load_demo", verbosity=0)
    assert BusinessHours.objects.exists() and EscalationTier.objects.exists()
    counts = (BusinessHours.objects.count(), ClosedDate.objects.count(),
              EscalationTier.objects.count())  # fmt: skip
    assert load_demo_sla() == 0
    assert counts == (BusinessHours.objects.count(), ClosedDate.objects.count(),
                      EscalationTier.objects.count())  # fmt: skip
    stat = SlaPolicy.objects.get(hospital__code="seoul-north", priority="stat")
    assert stat.clock_end == "preliminary"
    routine = SlaPolicy.objects.get(hospital__code="lakeview", priority="routine")
    assert routine.calendar == "business_hours"
    assert EscalationTier.objects.filter(hospital__isnull=True).count() == 3


def test_without_the_demo_hospitals_only_the_global_tiers_are_made():
    assert load_demo_sla() == 3
    assert not BusinessHours.objects.exists()
