"""The monitoring pass (every minute, triage.monitor): positive-rate alarms, told once.

For each active model version and window (last hour, last day) whose positive rate left its
band over enough studies (triage.monitoring), the pass claims the alarm's row with INSERT ...
ON CONFLICT DO NOTHING on (version, window, kind, window_start), window_start being the
clock hour or UTC day of the pass: of any number of passes and workers, exactly one gets the
row back, and only that one records the managers' e-mails and the audit line, in the same
transaction. E-mail goes after the commit, each claimed by a conditional UPDATE first (as
the SLA escalation's): at most once. The managers see the alarm on the ops dashboard and the
model page, and get it by e-mail through readingcenter.notifications, the channel SLA
escalation uses.

A paused version is not judged: it runs nothing, and its last day's runs are why a manager
paused it. The pass also keeps the model versions' registry current (what this worker has
loaded) and queues the re-triage of studies awaiting a version that may speak again.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from readingcenter.accounts.models import Role, User
from readingcenter.accounts.selectors import language_of
from readingcenter.audit.models import Outcome as AuditOutcome
from readingcenter.audit.services import audit_record
from readingcenter.notifications.services import email_send
from triage.models import (
    AlarmKind,
    AlarmWindow,
    ModelAlarm,
    ModelAlarmNotification,
    ModelVersion,
    NotificationOutcome,
)
from triage.monitoring import (
    Expectations,
    VersionMonitoring,
    WindowFigures,
    model_versions_monitoring,
)
from triage.registry import loaded_models
from triage.services import model_versions_register, triage_awaiting_release_due

log = logging.getLogger(__name__)

# The three monitoring expectations a card may set (Expectations.from_card).
EXPECTATION_KEYS = ("expected_positive_rate", "alert_factor", "min_studies")

SYSTEM_MONITOR = "system:triage-monitor"


def triage_monitor(*, timestamp: int | None = None, now: dt.datetime | None = None) -> list[int]:
    """One pass, for the tick's instant (``timestamp``, seconds) or ``now``: the registry, the
    awaiting studies, the alarms, then the pending e-mails. Returns the alarms it fired."""
    if now is None:
        now = dt.datetime.fromtimestamp(timestamp, dt.UTC) if timestamp else timezone.now()
    loaded, _errors = loaded_models()
    versions = model_versions_register(loaded)
    if versions:
        ModelVersion.objects.filter(pk__in=[v.pk for v in versions.values()]).update(
            last_seen_at=timezone.now()
        )
    queued = triage_awaiting_release_due(loaded=loaded, now=now)
    if queued:
        log.info("queued %d studies for re-triage", queued)
    fired = model_alarms_check(now=now)
    model_alarm_emails_send()
    return fired


def model_alarms_check(*, now: dt.datetime) -> list[int]:
    """Fire each due alarm of each active version once; returns the ids of those fired now."""
    fired = []
    for monitoring in model_versions_monitoring(now=now):
        if monitoring.version.is_paused:
            continue
        for figures, kind in monitoring.out_of_band:
            try:
                alarm_id = model_alarm_fire(monitoring, figures, kind, now=now)
            except Exception:  # one version's failure must not silence the others'
                log.exception("alarm for %s failed", monitoring.version)
                continue
            if alarm_id is not None:
                fired.append(alarm_id)
    return fired


def window_start(window: str, now: dt.datetime) -> dt.datetime:
    """The clock hour, or the UTC day, that ``now`` falls in: the alarm's once-only key."""
    now = now.astimezone(dt.UTC)
    if window == AlarmWindow.HOUR:
        return now.replace(minute=0, second=0, microsecond=0)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _percent(value: float) -> str:
    return f"{value:.1%}" if value < 0.1 else f"{value:.0%}"


def _counts(figures: WindowFigures, kind: str) -> tuple[int, int, float]:
    """(studies, positives, rate) as the alarm records them. For a withheld alarm: the studies
    the model was made for, those withheld among them, and their share."""
    if kind == AlarmKind.WITHHELD:
        return figures.made_for, figures.low_confidence, figures.withheld_share or 0.0
    return figures.studies, figures.positives, figures.rate or 0.0


def _describe(
    version: ModelVersion, figures: WindowFigures, kind: str, exp: Expectations, counts
) -> str:
    """The alarm in words, in the active language (the record's: the center's default)."""
    studies, positives, rate = counts
    return _alarm_text(
        version,
        window=figures.window,
        studies=studies,
        positives=positives,
        rate=rate,
        kind=kind,
        exp=exp,
    )


def _alarm_text(version, *, window, studies, positives, rate, kind, exp: Expectations) -> str:
    values = {
        "version": version,
        "positives": positives,
        "studies": studies,
        "rate": _percent(rate),
        "expected": _percent(exp.expected_positive_rate),
        "factor": f"{exp.alert_factor:g}",
        "high": _percent(exp.high),
        "low": _percent(exp.low),
    }
    hour = window == AlarmWindow.HOUR
    if kind == AlarmKind.WITHHELD:
        values["limit"] = _percent(exp.max_withheld_share)
        said = (
            _(
                "%(version)s withheld %(positives)s of %(studies)s studies (%(rate)s) in the "
                "last hour as unlike the studies it was validated on; above %(limit)s is an "
                "alarm. A hospital's images may have changed (a new scanner or detector, other "
                "settings): the model says nothing on them until it is validated on them."
            )
            if hour
            else _(
                "%(version)s withheld %(positives)s of %(studies)s studies (%(rate)s) in the "
                "last 24 hours as unlike the studies it was validated on; above %(limit)s is "
                "an alarm. A hospital's images may have changed (a new scanner or detector, "
                "other settings): the model says nothing on them until it is validated on them."
            )
        )
    elif kind == AlarmKind.HIGH:
        said = (
            _(
                "%(version)s flagged %(positives)s of %(studies)s studies (%(rate)s) in the "
                "last hour; about %(expected)s is expected, and above %(high)s (%(factor)sx) "
                "is an alarm. A model that flags this much makes every study STAT: consider "
                "pausing it."
            )
            if hour
            else _(
                "%(version)s flagged %(positives)s of %(studies)s studies (%(rate)s) in the "
                "last 24 hours; about %(expected)s is expected, and above %(high)s "
                "(%(factor)sx) is an alarm. A model that flags this much makes every study "
                "STAT: consider pausing it."
            )
        )
    else:
        said = (
            _(
                "%(version)s flagged %(positives)s of %(studies)s studies (%(rate)s) in the "
                "last hour; about %(expected)s is expected, and below %(low)s (1/%(factor)s) "
                "is a warning: the model may be missing findings, or the case mix has changed."
            )
            if hour
            else _(
                "%(version)s flagged %(positives)s of %(studies)s studies (%(rate)s) in the "
                "last 24 hours; about %(expected)s is expected, and below %(low)s "
                "(1/%(factor)s) is a warning: the model may be missing findings, or the case "
                "mix has changed."
            )
        )
    said = said % values
    if exp.defaults_used:
        said += " " + _(
            "(Its card sets no monitoring expectations: the reading center's defaults.)"
        )
    return said


def _managers() -> list[User]:
    return list(
        User.objects.filter(
            Q(role__in=[Role.MANAGER, Role.ADMIN]) | Q(is_superuser=True), is_active=True
        ).order_by("username")
    )


def _claim(version, figures, kind, expected, now, message, counts) -> int | None:
    """INSERT ... ON CONFLICT DO NOTHING against the unique (version, window, kind, start):
    of any number of transactions trying, exactly one gets a row back."""
    studies, positives, rate = counts
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {ModelAlarm._meta.db_table}
                (model_version_id, "window", kind, window_start, fired_at, studies, positives,
                 rate, expected_rate, alert_factor, min_studies, defaults_used, message)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (model_version_id, "window", kind, window_start) DO NOTHING
            RETURNING id
            """,  # noqa: S608 - the table name is ours, every value a parameter
            [
                version.pk, figures.window, kind, window_start(figures.window, now), now,
                studies, positives, rate, expected.expected_positive_rate,
                expected.alert_factor, expected.min_studies, expected.defaults_used, message,
            ],
        )  # fmt: skip
        row = cursor.fetchone()
    return row[0] if row else None


def model_alarm_fire(
    monitoring: VersionMonitoring, figures: WindowFigures, kind: str, *, now: dt.datetime
) -> int | None:
    """Record the alarm and the managers' e-mails, once per (version, window, kind, hour or
    day); None when this window's alarm was already fired."""
    version, expected = monitoring.version, monitoring.expected
    counts = _counts(figures, kind)
    message = _describe(version, figures, kind, expected, counts)
    with transaction.atomic():
        alarm_id = _claim(version, figures, kind, expected, now, message, counts)
        if alarm_id is None:
            return None
        managers = _managers()
        mailed = [m for m in managers if m.email]
        ModelAlarmNotification.objects.bulk_create(
            ModelAlarmNotification(
                alarm_id=alarm_id, recipient=m, address=m.email, outcome=NotificationOutcome.PENDING
            )
            for m in mailed
        )
        audit_record(
            actor=SYSTEM_MONITOR,
            action="triage.alarm",
            target_type=ModelAlarm._meta.label_lower,
            target_id=alarm_id,
            detail={
                "model_name": version.model_name,
                "model_version": version.model_version,
                "window": figures.window,
                "kind": kind,
                "studies": counts[0],
                "positives": counts[1],
                "expected_positive_rate": expected.expected_positive_rate,
                "alert_factor": expected.alert_factor,
                "min_studies": expected.min_studies,
                "defaults_used": expected.defaults_used,
                "emailed": [m.get_username() for m in mailed],
            },
        )
    log.warning("model alarm %s: %s", alarm_id, message)
    return alarm_id


def _site_url(path: str) -> str:
    return getattr(settings, "SITE_URL", "http://127.0.0.1:8000").rstrip("/") + path


def _email_text(alarm: ModelAlarm) -> tuple[str, str]:
    """Subject and body in the active language (the recipient's): the alarm's words are
    written again from its figures, not copied from its record."""
    version = alarm.model_version
    page = reverse("ai-model", args=[version.model_name, version.model_version])
    subject = _("[AI] %(version)s: %(kind)s (%(window)s)") % {
        "version": version,
        "kind": str(alarm.get_kind_display()).lower(),
        "window": str(alarm.get_window_display()).lower(),
    }
    exp = Expectations(
        expected_positive_rate=alarm.expected_rate,
        alert_factor=alarm.alert_factor,
        min_studies=alarm.min_studies,
        from_card=() if alarm.defaults_used else EXPECTATION_KEYS,
    )
    said = _alarm_text(version, window=alarm.window, studies=alarm.studies,
                       positives=alarm.positives, rate=alarm.rate, kind=alarm.kind,
                       exp=exp)  # fmt: skip
    body = (
        f"{said}\n\n"
        + _("The model's page (figures, alarms, pause): %(url)s") % {"url": _site_url(page)}
        + "\n"
        + _("You receive this because you are a manager of the reading center.")
        + "\n"
    )
    return subject, body


def _send(notification: ModelAlarmNotification) -> tuple[str, str]:
    recipient = notification.recipient
    with translation.override(language_of(recipient)):
        subject, body = _email_text(notification.alarm)
    sent = email_send(
        to=notification.address,
        subject=subject,
        body=body,
        from_email=getattr(settings, "SLA_FROM_EMAIL", None),
    )
    if not sent.sent:
        log.warning("alarm e-mail %s to %s failed: %s", notification.pk, notification.address,
                    sent.error)  # fmt: skip
        return NotificationOutcome.FAILED, sent.error
    return NotificationOutcome.SENT, ""


def model_alarm_emails_send(*, limit: int = 200) -> list[int]:
    """Send pending alarm e-mails. Each is claimed first by a conditional UPDATE (pending ->
    sending, committed on its own), so of two workers only one sends it, and one whose worker
    died while sending stays 'sending' instead of going out twice."""
    sent = []
    pending = ModelAlarmNotification.objects.filter(outcome=NotificationOutcome.PENDING)
    for pk in list(pending.values_list("id", flat=True)[:limit]):
        if not ModelAlarmNotification.objects.filter(
            pk=pk, outcome=NotificationOutcome.PENDING
        ).update(outcome=NotificationOutcome.SENDING):
            continue  # another worker has it
        notification = ModelAlarmNotification.objects.select_related(
            "alarm__model_version", "recipient__hospital"
        ).get(pk=pk)
        outcome, error = _send(notification)
        with transaction.atomic():
            ModelAlarmNotification.objects.filter(pk=pk).update(
                outcome=outcome,
                sent_at=timezone.now() if outcome == NotificationOutcome.SENT else None,
                detail=error,
            )
            audit_record(
                actor=SYSTEM_MONITOR,
                action="triage.alarm.email",
                target=notification,
                outcome=AuditOutcome.SUCCESS
                if outcome == NotificationOutcome.SENT
                else AuditOutcome.ERROR,
                detail={"alarm_id": notification.alarm_id, "to": notification.address,
                        "error": error},
            )  # fmt: skip
        if outcome == NotificationOutcome.SENT:
            sent.append(pk)
    return sent
