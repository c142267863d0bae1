"""A model version whose positive rate leaves its band (above alert_factor x the expected rate
over at least min_studies studies) raises an alarm once per version and window: a real
Procrastinate worker running the every-minute pass twice in the same hour fires it once, tells
the managers once by e-mail over real SMTP, and records and audits it."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone
from procrastinate.contrib.django import app

from readingcenter.audit.models import AuditEvent
from tests.critical.races import race
from tests.critical.smtp_sink import SmtpSink
from tests.triage.monitoring_cast import model_version, record_runs
from triage import alarms, jobs, services
from triage.alarms import model_alarms_check, triage_monitor
from triage.models import ModelAlarm, ModelAlarmNotification


def _an_hour_ten_days_ago() -> dt.datetime:
    # Far from the real clock, so the worker's own every-minute tick (stamped now) sees none
    # of these runs; half past, so a pass a minute later is in the same clock hour; and 12:30
    # UTC, so that the next clock hour is still the same UTC day (run at 23:xx, "the next
    # hour" was tomorrow, and the day alarm fired again).
    day = (timezone.now() - dt.timedelta(days=10)).astimezone(dt.UTC)
    return day.replace(hour=12, minute=30, second=0, microsecond=0)


@pytest.fixture(autouse=True)
def _no_packages(settings):
    settings.TRIAGE_MODEL_DIRS = []  # nothing loaded: the pass judges what is on record


@pytest.fixture
def smtp(settings):
    """Mail really goes over SMTP to a server listening on a free loopback port."""
    sink = SmtpSink().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    yield sink
    sink.stop()


@pytest.fixture
def managers(manager, django_user_model):
    from readingcenter.accounts.models import Role

    manager.email = "mgr@rc.example"
    manager.save(update_fields=["email"])
    django_user_model.objects.create_user(
        username="mgr2", password="x", role=Role.MANAGER, email="mgr2@rc.example"
    )
    return manager


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_fires_the_alarm_once_and_a_second_pass_in_the_window_fires_nothing(
    hospital_a, managers, smtp, monkeypatch
):
    def then_close(work):
        # The worker runs sync tasks in a pool thread whose Django connection outlives the
        # job; closed here so that the test database can be dropped afterwards.
        def run(**kwargs):
            try:
                return work(**kwargs)
            finally:
                connection.close()

        return run

    monkeypatch.setattr(alarms, "triage_monitor", then_close(alarms.triage_monitor))
    monkeypatch.setattr(services, "study_retriage", then_close(services.study_retriage))
    monkeypatch.setattr(jobs, "study_completed_handle", then_close(jobs.study_completed_handle))
    start = _an_hour_ten_days_ago()
    version = model_version()
    record_runs(version, hospital_a, at=start - dt.timedelta(minutes=10), total=60, flagged=40)

    # A worker run by an earlier test (its periodic deferrer) may have left this minute's
    # monitor job queued: procrastinate's tables are not Django's, so no flush empties them,
    # and its queueing lock would refuse the ticks below.
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM procrastinate_jobs WHERE queueing_lock = %s AND status = 'todo'",
            ["triage-monitor"],
        )
    for minute in (0, 1):  # two ticks of the same clock hour
        jobs.monitor.defer(timestamp=int((start + dt.timedelta(minutes=minute)).timestamp()))
        with app.replace_connector(app.connector.get_worker_connector()) as worker_app:
            worker_app.run_worker(queues=["triage"], wait=False, install_signal_handlers=False)

    fired = ModelAlarm.objects.filter(model_version=version).order_by("window")
    assert [(a.window, a.kind, a.studies, a.positives) for a in fired] == [
        ("day", "high", 60, 40),
        ("hour", "high", 60, 40),
    ]
    hour = fired.get(window="hour")
    assert hour.window_start == start.replace(minute=0)
    assert "flagged 40 of 60 studies (67%) in the last hour" in hour.message
    assert "above 24% (3x)" in hour.message
    # Each manager told once per alarm, over real SMTP, with the model's page to act on.
    assert len(smtp.to("mgr@rc.example")) == 2 and len(smtp.to("mgr2@rc.example")) == 2
    first = smtp.to("mgr@rc.example")[0]
    assert first.subject.startswith("[AI] head-ct-ich 2.0.0: positive rate above its band")
    assert "/ai/models/head-ct-ich/2.0.0/" in first.body
    assert set(ModelAlarmNotification.objects.values_list("outcome", flat=True)) == {"sent"}
    assert AuditEvent.objects.filter(action="triage.alarm").count() == 2
    assert AuditEvent.objects.filter(action="triage.alarm.email").count() == 4


@pytest.mark.django_db
def test_the_next_clock_hour_fires_the_hour_window_again_but_not_the_day(hospital_a, managers):
    start = _an_hour_ten_days_ago()
    version = model_version()
    record_runs(version, hospital_a, at=start, total=60, flagged=40)
    assert len(triage_monitor(now=start + dt.timedelta(minutes=5))) == 2
    assert triage_monitor(now=start + dt.timedelta(minutes=29)) == []
    # 13:05: the trailing hour still holds the 12:30 runs; a new clock hour, a new hour alarm.
    [again] = triage_monitor(now=start + dt.timedelta(minutes=35))
    assert ModelAlarm.objects.get(pk=again).window == "hour"
    assert triage_monitor(now=start + dt.timedelta(minutes=50)) == []
    assert ModelAlarm.objects.filter(window="day").count() == 1


@pytest.mark.django_db
def test_a_rate_far_below_expected_is_a_warning(hospital_a, managers):
    start = _an_hour_ten_days_ago()
    version = model_version()  # expected 8 %, warning below 2.7 %
    record_runs(version, hospital_a, at=start, total=80, flagged=1)
    fired = ModelAlarm.objects.filter(pk__in=triage_monitor(now=start + dt.timedelta(minutes=1)))
    assert {(a.window, a.kind) for a in fired} == {("hour", "low"), ("day", "low")}
    assert "may be missing findings" in fired.first().message


@pytest.mark.django_db
def test_too_few_studies_a_rate_in_band_or_a_paused_version_fire_nothing(hospital_a, managers):
    start = _an_hour_ten_days_ago()
    few = model_version(version="2.0.1")
    record_runs(few, hospital_a, at=start, total=49, flagged=49)  # min_studies is 50
    calm = model_version(version="2.0.2")
    record_runs(calm, hospital_a, at=start, total=100, flagged=9)
    paused = model_version(version="2.0.3")
    record_runs(paused, hospital_a, at=start, total=100, flagged=90)
    services.model_version_pause(
        model_name="head-ct-ich", model_version="2.0.3", actor=managers, reason="flags everything"
    )
    # Low-confidence runs never flag and are not in the rate's denominator; 30 of 130 withheld
    # is under the quarter that raises the withheld alarm (its own test).
    record_runs(calm, hospital_a, at=start, total=30, status="low_confidence")
    assert triage_monitor(now=start + dt.timedelta(minutes=1)) == []


@pytest.mark.django_db
def test_a_card_without_monitoring_is_held_to_the_defaults_and_says_so(hospital_a, managers):
    start = _an_hour_ten_days_ago()
    version = model_version(monitoring={})
    record_runs(version, hospital_a, at=start, total=50, flagged=16)  # 32 % > 3 x 10 %
    [hour] = ModelAlarm.objects.filter(
        pk__in=triage_monitor(now=start + dt.timedelta(minutes=1)), window="hour"
    )
    assert (hour.expected_rate, hour.alert_factor, hour.min_studies) == (0.1, 3.0, 50)
    assert hour.defaults_used and "the reading center's defaults" in hour.message


@pytest.mark.django_db(transaction=True)
def test_two_passes_racing_fire_each_alarm_once(hospital_a, managers):
    start = _an_hour_ten_days_ago()
    version = model_version()
    record_runs(version, hospital_a, at=start, total=60, flagged=40)
    now = start + dt.timedelta(minutes=1)
    results, errors = race(4, lambda _i: model_alarms_check(now=now))
    assert errors == []
    assert sum(len(fired) for fired in results) == 2  # hour and day, by whichever pass won
    assert ModelAlarm.objects.filter(model_version=version).count() == 2
    # One e-mail per manager per alarm, whoever won.
    assert ModelAlarmNotification.objects.count() == 4
