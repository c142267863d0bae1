"""The SLA cast: a Chicago hospital open on weekdays, readers on and off duty, tiers, and
cases whose clock started at an instant the test chooses (time is passed in, never slept)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from readingcenter.accounts.models import RadiologistProfile, Role, Shift, User
from readingcenter.hospitals.models import Hospital
from readingcenter.sla import services
from readingcenter.sla.models import EscalationTier
from readingcenter.worklist.services import case_sync_from_study
from tests.conftest import grant
from tests.factories import make_study

UTC = dt.UTC
WEEKDAYS_8_TO_17 = [(d, "08:00", "17:00") for d in range(5)]


def at(zone: str, *args) -> dt.datetime:
    """An aware instant from a local wall time in ``zone``."""
    import zoneinfo

    return dt.datetime(*args, tzinfo=zoneinfo.ZoneInfo(zone))


@pytest.fixture
def lakeview(db) -> Hospital:
    return Hospital.objects.create(name="Lakeview", code="lakeview", time_zone="America/Chicago")


@pytest.fixture
def business_lakeview(lakeview, manager) -> Hospital:
    """Open Monday to Friday 08:00-17:00 Chicago time; routine promise 8 business hours."""
    services.business_hours_set(hospital=lakeview, hours=WEEKDAYS_8_TO_17, actor=manager)
    services.sla_policy_set(
        hospital=lakeview, priority="routine", target_minutes=480, at_risk_percent=75,
        calendar="business_hours", actor=manager,
    )  # fmt: skip
    return lakeview


def open_case(hospital, *, completed_at: dt.datetime, priority="routine", **fields):
    """A complete study and its case, its clock started at ``completed_at``."""
    study = make_study(hospital, priority=priority, completed_at=completed_at, **fields)
    with transaction.atomic():
        return case_sync_from_study(study)


def reader(username, hospital, *, on_duty=True, subspecialties=(), modalities=(), email=""):
    user = User.objects.create_user(
        username=username, password="x", role=Role.RADIOLOGIST, email=email
    )
    grant(user, hospital)
    RadiologistProfile.objects.create(
        user=user, subspecialties=list(subspecialties), modalities=list(modalities)
    )
    if on_duty:
        now = timezone.now()
        Shift.objects.create(
            radiologist=user,
            starts_at=now - dt.timedelta(hours=2),
            ends_at=now + dt.timedelta(hours=6),
        )
    return user


@pytest.fixture
def manager_with_email(manager):
    manager.email = "mgr@rc.example"
    manager.save(update_fields=["email"])
    return manager


@pytest.fixture
def mail(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    from django.core import mail as outbox

    outbox.outbox = []
    return outbox


@pytest.fixture
def two_tiers(db) -> tuple[EscalationTier, EscalationTier]:
    """The global default: tell the readers on duty at risk, alert the managers at breach."""
    at_risk = EscalationTier.objects.create(
        position=1, trigger="at_risk", action="notify_on_duty", name="at risk: readers on duty"
    )
    breached = EscalationTier.objects.create(
        position=2, trigger="breached", action="alert_manager", name="breached: managers"
    )
    return at_risk, breached
