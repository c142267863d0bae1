"""When the novelty check withholds many of the studies a model was made for (more than a
quarter of at least min_studies in a window), a hospital's images have changed: the managers
hear of it once per version and window, as for a positive rate out of its band, and the
alarm says how many were withheld."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from readingcenter.audit.models import AuditEvent
from tests.triage.monitoring_cast import model_version, record_runs
from triage.alarms import triage_monitor
from triage.models import AlarmKind, ModelAlarm, ModelAlarmNotification

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_packages(settings):
    settings.TRIAGE_MODEL_DIRS = []  # nothing loaded: the pass judges what is on record


def _half_past(hours_ago: int) -> dt.datetime:
    now = timezone.now().astimezone(dt.UTC) - dt.timedelta(days=10, hours=hours_ago)
    return now.replace(hour=12, minute=30, second=0, microsecond=0)


def test_a_surge_of_withheld_studies_fires_once_and_says_how_many(hospital_a, manager):
    manager.email = "mgr@rc.example"
    manager.save(update_fields=["email"])
    version = model_version(name="cxr-pneumothorax", version="1.0.0")
    at = _half_past(0)
    # A new detector at a hospital: 40 films withheld as unfamiliar, 20 read as before, 1 of
    # them flagged (5 %, inside the band: the rate alone would say nothing).
    record_runs(version, hospital_a, at=at - dt.timedelta(minutes=20), total=40,
                status="low_confidence")  # fmt: skip
    record_runs(version, hospital_a, at=at - dt.timedelta(minutes=10), total=20, flagged=1)
    fired = triage_monitor(now=at)
    alarms = ModelAlarm.objects.filter(pk__in=fired, kind=AlarmKind.WITHHELD)
    assert {a.window for a in alarms} == {"hour", "day"}
    hour = alarms.get(window="hour")
    assert (hour.studies, hour.positives) == (60, 40)
    assert hour.rate == pytest.approx(40 / 60)
    assert "withheld 40 of 60 studies (67%) in the last hour" in hour.message
    assert "above 25% is an alarm" in hour.message
    assert not ModelAlarm.objects.filter(kind__in=[AlarmKind.HIGH, AlarmKind.LOW]).exists()
    assert ModelAlarmNotification.objects.filter(alarm=hour, address="mgr@rc.example").exists()
    assert AuditEvent.objects.filter(action="triage.alarm", target_id=str(hour.pk)).exists()
    # The same window again: nothing new.
    assert triage_monitor(now=at + dt.timedelta(minutes=1)) == []


def test_a_few_withheld_studies_or_too_few_studies_fire_nothing(hospital_a):
    version = model_version(name="cxr-pneumothorax", version="1.0.0")
    at = _half_past(0)
    # 10 of 60 withheld (17 %): under the quarter.
    record_runs(version, hospital_a, at=at - dt.timedelta(minutes=20), total=10,
                status="low_confidence")  # fmt: skip
    record_runs(version, hospital_a, at=at - dt.timedelta(minutes=10), total=50, flagged=3)
    assert not ModelAlarm.objects.filter(pk__in=triage_monitor(now=at)).exists()
    # All withheld, but only 30 studies in a fresh version's window: too few to judge.
    other = model_version(name="cxr-pneumothorax", version="1.0.1")
    record_runs(other, hospital_a, at=at - dt.timedelta(minutes=5), total=30,
                status="low_confidence")  # fmt: skip
    assert not ModelAlarm.objects.filter(model_version=other).exists()
    triage_monitor(now=at)
    assert not ModelAlarm.objects.filter(model_version=other).exists()
