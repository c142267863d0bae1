"""Turnaround promises (SLA), the calendars that count their time, and escalation.

A promise is per hospital contract and priority: so many minutes from the study's completion
(the case's ``arrived_at``) to the preliminary report or to the final one, counted around
the clock (24/7) or only in the hospital's business hours. When a case's time runs short the
escalation tiers a manager configured act on it, each one once per case: the
``CaseEscalation`` row is both the record and the guard.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from readingcenter.studies.models import Priority


class ClockEnd(models.TextChoices):
    """What stops the clock. A STAT promise is often 'a preliminary within 30 minutes'."""

    PRELIMINARY = "preliminary", _("Preliminary report (a final also stops it)")
    FINAL = "final", _("Final report")


class CalendarKind(models.TextChoices):
    ALWAYS = "24x7", _("24/7: every minute counts")
    BUSINESS_HOURS = "business_hours", _("Business hours of the hospital (its time zone)")


class SlaPolicy(models.Model):
    """A hospital's turnaround promise for one priority, counted from the study's completion.

    A hospital without a policy for a priority gets the reading center's default
    (settings.SLA_DEFAULT_MINUTES, 24/7, to the final report): every case has a deadline.
    """

    hospital = models.ForeignKey(
        "hospitals.Hospital", on_delete=models.CASCADE, related_name="sla_policies"
    )
    priority = models.CharField(max_length=8, choices=Priority.choices)
    target_minutes = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    # A case is "at risk" once this share of its time is used: the page turns it amber.
    at_risk_percent = models.PositiveSmallIntegerField(
        default=75, validators=[MinValueValidator(1), MaxValueValidator(99)]
    )
    # Defaults are what every promise meant before they existed: rows made then stay valid.
    clock_end = models.CharField(
        max_length=16, choices=ClockEnd.choices, default=ClockEnd.FINAL,
        help_text=_("the clock runs from the study's completion until this report is signed"),
    )  # fmt: skip
    calendar = models.CharField(
        max_length=16, choices=CalendarKind.choices, default=CalendarKind.ALWAYS,
        help_text=_("business hours: only the minutes inside the hospital's opening hours count"),
    )  # fmt: skip
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["hospital__name", "priority"]
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")
        constraints = [
            models.UniqueConstraint(fields=["hospital", "priority"], name="sla_policy_unique"),
            models.CheckConstraint(
                name="sla_at_risk_percent_range",
                condition=models.Q(at_risk_percent__gte=1, at_risk_percent__lte=99),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.hospital_id} {self.priority}: {self.target_minutes} min"


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


class BusinessHours(models.Model):
    """One opening interval of a hospital on a weekday, in the hospital's time zone.

    Several rows per weekday are allowed (a lunch break); ``closes_at`` 00:00 means the
    midnight that ends the day, so overnight service is two rows (22:00-00:00, 00:00-06:00).
    """

    hospital = models.ForeignKey(
        "hospitals.Hospital", on_delete=models.CASCADE, related_name="business_hours"
    )
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    opens_at = models.TimeField()
    closes_at = models.TimeField(help_text=_("00:00 means midnight at the end of the day"))

    class Meta:
        ordering = ["hospital_id", "weekday", "opens_at"]
        verbose_name_plural = _("business hours")
        constraints = [
            models.CheckConstraint(
                name="sla_business_hours_weekday", condition=models.Q(weekday__lte=6)
            ),
            models.CheckConstraint(
                name="sla_business_hours_ordered",
                condition=models.Q(closes_at__gt=models.F("opens_at"))
                | models.Q(closes_at="00:00:00"),
            ),
            models.UniqueConstraint(
                fields=["hospital", "weekday", "opens_at"], name="sla_business_hours_unique"
            ),
        ]

    def __str__(self) -> str:
        closes = "24:00" if self.closes_at.hour == self.closes_at.minute == 0 else self.closes_at
        return f"{self.get_weekday_display()} {self.opens_at:%H:%M}-{closes}"

    def clean(self) -> None:
        super().clean()
        midnight = self.closes_at is not None and self.closes_at.hour == self.closes_at.minute == 0
        if self.opens_at and self.closes_at and not midnight and self.closes_at <= self.opens_at:
            raise ValidationError({"closes_at": _("Closes after it opens (00:00 for midnight).")})


class ClosedDate(models.Model):
    """A date the hospital's business-hours clocks do not run (a public holiday), local date."""

    hospital = models.ForeignKey(
        "hospitals.Hospital", on_delete=models.CASCADE, related_name="closed_dates"
    )
    date = models.DateField()
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["hospital_id", "date"]
        constraints = [
            models.UniqueConstraint(fields=["hospital", "date"], name="sla_closed_date_unique")
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.reason}".strip()


# -- escalation -----------------------------------------------------------------------------------


class Trigger(models.TextChoices):
    AT_RISK = "at_risk", _("At risk (the policy's at-risk share used)")
    BREACHED = "breached", _("Breached (deadline passed)")
    PERCENT = "percent", _("A share of the time used (percent_used)")


class Action(models.TextChoices):
    NOTIFY_ON_DUTY = "notify_on_duty", _("Notify on-duty radiologists eligible for the case")
    WIDEN_POOL = "widen_pool", _("Widen the pool: notify every privileged reader of the modality")
    AUTO_ASSIGN = "auto_assign", _("Auto-assign to the least-loaded eligible reader on duty")
    ALERT_MANAGER = "alert_manager", _("Alert the managers (page and e-mail)")


# A tier's trigger as its label names it ("at risk: notify ...").
TRIGGER_WORDS = {
    Trigger.AT_RISK: pgettext_lazy("escalation trigger", "at risk"),
    Trigger.BREACHED: pgettext_lazy("escalation trigger", "breached"),
}


class EscalationTier(models.Model):
    """One step a manager configured: when a case reaches ``trigger``, do ``action``.

    A case gets its hospital's own active tiers for its priority (``priority`` empty: every
    priority) when there are any, and the global tiers (hospital empty) otherwise.
    """

    hospital = models.ForeignKey(
        "hospitals.Hospital", null=True, blank=True, on_delete=models.CASCADE,
        related_name="escalation_tiers", help_text=_("empty: the default for every hospital"),
    )  # fmt: skip
    position = models.PositiveSmallIntegerField(
        default=1, help_text=_("order of the steps when several are due at once")
    )
    name = models.CharField(max_length=100, blank=True)
    priority = models.CharField(
        max_length=8, choices=Priority.choices, blank=True, help_text=_("empty: every priority")
    )
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    percent_used = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text=_("for the 'share of the time used' trigger: 50, 90, 150 (past the deadline)"),
    )  # fmt: skip
    action = models.CharField(max_length=16, choices=Action.choices)
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["hospital_id", "position", "id"]
        constraints = [
            models.CheckConstraint(
                name="sla_tier_percent_iff_percent_trigger",
                condition=(
                    models.Q(trigger="percent", percent_used__gte=1, percent_used__lte=1000)
                    | (~models.Q(trigger="percent") & models.Q(percent_used__isnull=True))
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.name or f"{self.get_trigger_display()}: {self.get_action_display()}"

    @property
    def label(self) -> str:
        """Its name, else "at risk: notify on-duty radiologists ..." in the active language."""
        if self.name:
            return self.name
        if self.trigger == Trigger.PERCENT:
            when = _("%(percent)s%% used") % {"percent": self.percent_used}
        else:
            when = str(TRIGGER_WORDS.get(self.trigger, self.trigger.replace("_", " ")))
        action = re.split("[:\uff1a]", str(self.get_action_display()))[0].lower()
        return _("%(when)s: %(action)s") % {"when": when, "action": action}

    def clean(self) -> None:
        super().clean()
        if self.trigger == Trigger.PERCENT and not self.percent_used:
            raise ValidationError({"percent_used": _("Say which share of the time triggers it.")})
        if self.trigger != Trigger.PERCENT and self.percent_used is not None:
            raise ValidationError({"percent_used": _("Only for the 'share of the time' trigger.")})


class EscalationOutcome(models.TextChoices):
    DONE = "done", _("Done")
    # Nothing to do when it fell due: the case was already claimed, nobody was eligible.
    SKIPPED = "skipped", _("Nothing to do")


class CaseEscalation(models.Model):
    """A tier's step taken on a case: at most one per (case, tier), whatever the workers.

    The row is inserted (``ON CONFLICT DO NOTHING``) in the same transaction as everything
    the step does; the worker that inserted it is the one that acts, and a crash before the
    commit leaves neither the row nor the step's effects, so the next run does it once.
    """

    case = models.ForeignKey("worklist.Case", on_delete=models.CASCADE, related_name="escalations")
    tier = models.ForeignKey(EscalationTier, on_delete=models.PROTECT, related_name="escalations")
    # Copied from the tier when it fired: the record stays true if the tier is edited later.
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    action = models.CharField(max_length=16, choices=Action.choices)
    due_at = models.DateTimeField(help_text=_("when the tier fell due for this case"))
    performed_at = models.DateTimeField()
    outcome = models.CharField(max_length=8, choices=EscalationOutcome.choices)
    detail = models.TextField(blank=True)
    # Usernames told or chosen, for the case page without a join per line.
    recipients = models.JSONField(default=list, blank=True)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["performed_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "tier"], name="sla_case_escalation_once")
        ]

    def __str__(self) -> str:
        return f"case {self.case_id} tier {self.tier_id}: {self.outcome}"


class NotificationChannel(models.TextChoices):
    IN_APP = "in_app", _("On the reading center's pages")
    EMAIL = "email", _("E-mail")


class NotificationOutcome(models.TextChoices):
    SENT = "sent", _("Sent")
    PENDING = "pending", _("Waiting to be sent")
    # Taken by a worker for sending; it stays so if that worker died in the middle, and is
    # never sent again (the step is done once; an e-mail that may have gone is not repeated).
    SENDING = "sending", _("Being sent")
    FAILED = "failed", _("Failed")


class CoverageAlert(models.Model):
    """A STAT case that no radiologist on duty may read (privilege, modality, subspecialty),
    told to the managers: once per case, whatever the workers (the unique case is the guard),
    on their pages and by e-mail, like an escalation step's alert."""

    case = models.OneToOneField(
        "worklist.Case", on_delete=models.CASCADE, related_name="coverage_alert"
    )
    raised_at = models.DateTimeField()
    message = models.TextField()
    # Usernames of the managers told, as they were.
    recipients = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-raised_at", "-id"]

    def __str__(self) -> str:
        return f"case {self.case_id} uncovered, alerted {self.raised_at:%Y-%m-%d %H:%M}"


class SlaNotification(models.Model):
    """One person told about one escalation step or one coverage alert: an in-app row he
    sees, or an e-mail."""

    escalation = models.ForeignKey(
        CaseEscalation, null=True, blank=True, on_delete=models.CASCADE,
        related_name="notifications",
    )  # fmt: skip
    coverage_alert = models.ForeignKey(
        CoverageAlert, null=True, blank=True, on_delete=models.CASCADE,
        related_name="notifications",
    )  # fmt: skip
    case = models.ForeignKey("worklist.Case", on_delete=models.CASCADE, related_name="+")
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="sla_notifications",
    )  # fmt: skip
    channel = models.CharField(max_length=8, choices=NotificationChannel.choices)
    address = models.CharField(max_length=254, blank=True)
    message = models.TextField()
    outcome = models.CharField(max_length=8, choices=NotificationOutcome.choices)
    sent_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # A reader's unread notifications (the badge), on every page load.
            models.Index(
                fields=["recipient", "-created_at"],
                name="sla_notification_unread_idx",
                condition=models.Q(channel="in_app", read_at__isnull=True),
            ),
            # The sender: e-mails still waiting.
            models.Index(
                fields=["id"],
                name="sla_notification_pending_idx",
                condition=models.Q(outcome="pending"),
            ),
        ]
        constraints = [
            # Each notification tells of one thing: an escalation step or a coverage alert.
            models.CheckConstraint(
                name="sla_notification_one_cause",
                condition=models.Q(escalation__isnull=False, coverage_alert__isnull=True)
                | models.Q(escalation__isnull=True, coverage_alert__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} to {self.address or self.recipient_id}"
