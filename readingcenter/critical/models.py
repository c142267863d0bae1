"""Critical results: who at a hospital must hear about a dangerous finding, and the proof
that they did.

A radiologist marks a finding critical in his report (the ACR's actionable-findings
categories). When the report is signed, each finding becomes a ``CriticalResult`` that stays
open until someone at the hospital acknowledges it. Every attempt to tell someone is a
``CriticalNotification`` row: the communication record the Joint Commission asks for (who was
told, when, how, and whether it went through).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from readingcenter.errors import DomainError
from readingcenter.reports.models import CriticalCategory

# Minutes the hospital has to acknowledge before the next contact and the manager are told.
# ACR: category 1 "within minutes" (communication within the hour), category 2 "within hours"
# (within about six), category 3 "within days". One window per escalation tier: level 1, 2
# and the manager all fit inside the category's promise. CRITICAL_ACK_MINUTES overrides it.
DEFAULT_ACK_MINUTES = {
    CriticalCategory.MINUTES: 15,
    CriticalCategory.HOURS: 120,
    CriticalCategory.DAYS: 1440,
}


def ack_window(category: str) -> dt.timedelta:
    minutes = {**DEFAULT_ACK_MINUTES, **getattr(settings, "CRITICAL_ACK_MINUTES", {})}
    return dt.timedelta(minutes=minutes[category])


def clean_critical_findings(value) -> list[dict]:
    """A report's ``critical_findings`` in the one shape signing accepts, or a DomainError.

    ``[{"finding": "Acute subdural haematoma", "category": "minutes"}]``: a finding in words
    and one of CriticalCategory's values. The reports code may call this when a draft is
    saved, so that signing never fails on it.
    """
    if value in (None, ""):
        return []
    if not isinstance(value, list):
        raise DomainError(
            "critical_findings_invalid", _("Critical findings must be a list."),
            field="critical_findings",
        )  # fmt: skip
    cleaned = []
    for item in value:
        finding = item.get("finding") if isinstance(item, dict) else None
        category = item.get("category") if isinstance(item, dict) else None
        if not isinstance(finding, str) or not finding.strip():
            raise DomainError(
                "critical_finding_invalid",
                _("Each critical finding needs its text."),
                field="critical_findings",
            )
        if category not in CriticalCategory.values:
            raise DomainError(
                "critical_category_invalid",
                _("%(category)s is not a critical category (minutes, hours or days).")
                % {"category": repr(category)},
                field="critical_findings",
            )
        cleaned.append({"finding": finding.strip(), "category": category})
    return cleaned


class HospitalContact(models.Model):
    """Someone at a hospital who must hear about critical results, in escalation order.

    Level 1 is told first (the ED attending on duty); when nobody acknowledges in time,
    level 2 (the department chief), and so on. A contact is reached on every channel it has:
    the portal when it names a hospital user, email when it has an address. The phone number
    is for the reading center's people to call (and is shown in the escalation alerts).
    """

    hospital = models.ForeignKey(
        "hospitals.Hospital", on_delete=models.CASCADE, related_name="critical_contacts"
    )
    name = models.CharField(max_length=200, help_text=_("a person or a desk: 'ED attending'"))
    role = models.CharField(max_length=200, blank=True, help_text=_("e.g. ED attending on duty"))
    level = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1)],
        help_text=_("escalation order: 1 is told first, 2 when 1 does not acknowledge in time"),
    )
    phone = models.CharField(max_length=64, blank=True)
    email = models.EmailField(blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="critical_contacts",
        limit_choices_to={"role": "hospital"},
        help_text=_("a hospital user notified on the critical results page"),
    )
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["hospital__name", "level", "name"]
        indexes = [
            # Each notification asks "the active contacts of hospital H at level N".
            models.Index(
                fields=["hospital", "level"],
                name="critical_contact_level_idx",
                condition=models.Q(is_active=True),
            )
        ]
        constraints = [
            models.CheckConstraint(
                name="critical_contact_level_positive", condition=models.Q(level__gte=1)
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} (level {self.level})"

    def clean(self) -> None:
        super().clean()
        if self.user_id and (self.user.hospital_id != self.hospital_id):
            # A portal notification to another hospital's user would leak a patient.
            raise ValidationError({"user": _("The user must belong to this hospital.")})

    @property
    def channels(self) -> list[str]:
        found = []
        # The user's hospital is checked again here, not only in the admin's form: a portal
        # notification to another hospital's user would show it a patient.
        if self.user_id and self.user.is_active and self.user.hospital_id == self.hospital_id:
            found.append(Channel.PORTAL)
        if self.email:
            found.append(Channel.EMAIL)
        return found

    @property
    def label(self) -> str:
        return f"{self.name}, {self.role}" if self.role else self.name


class State(models.TextChoices):
    OPEN = "open", _("Open: waiting for acknowledgement")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")


class AckVia(models.TextChoices):
    PORTAL = "portal", _("Portal (critical results page)")
    API = "api", _("Hospital system (API)")
    PHONE = "phone", _("Phone call, recorded by the reading center")


class CriticalResult(models.Model):
    """One critical finding of one signed report, open until the hospital acknowledges it."""

    # The signed version that raised it (immutable, so the finding's wording is evidence).
    report = models.ForeignKey(
        "reports.Report", on_delete=models.PROTECT, related_name="critical_results"
    )
    # Its index in report.critical_findings: one result per finding, whatever the retries.
    position = models.PositiveSmallIntegerField(default=0)
    study = models.ForeignKey(
        "studies.Study", on_delete=models.PROTECT, related_name="critical_results"
    )
    # Copied from the report: tenancy filters on it without a join.
    hospital = models.ForeignKey("hospitals.Hospital", on_delete=models.PROTECT, related_name="+")
    finding = models.TextField()
    category = models.CharField(max_length=8, choices=CriticalCategory.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)

    # The escalation tier now: 1 at first, +1 each time a window passes unacknowledged. It
    # may go past the hospital's last contact level: then only the managers are alerted.
    level = models.PositiveSmallIntegerField(default=1)
    # The highest level whose notifications exist: the notify job's idempotency guard.
    notified_level = models.PositiveSmallIntegerField(default=0)
    raised_at = models.DateTimeField()
    due_at = models.DateTimeField(help_text=_("escalates to the next level if still open then"))
    escalated_at = models.DateTimeField(null=True, blank=True)

    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Who really took it: "Dr Lee, ED, by phone", or the person a hospital system names.
    acknowledged_by_name = models.CharField(max_length=200, blank=True)
    # His role at the hospital ("ED attending"): the record says who was responsible.
    acknowledged_by_role = models.CharField(max_length=200, blank=True)
    # The receiver repeated the finding back and it was confirmed (the Joint Commission's
    # read-back). Required on the page and by phone; what a hospital system says through the
    # API; None for acknowledgements recorded before it was asked.
    read_back = models.BooleanField(null=True, blank=True)
    ack_via = models.CharField(max_length=8, choices=AckVia.choices, blank=True)
    note = models.TextField(blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-raised_at", "-id"]
        indexes = [
            # The escalation job, every minute: open results whose due_at has passed.
            # Partial: its size is the handful of open results, not years of history.
            models.Index(
                fields=["due_at"],
                name="critical_open_due_idx",
                condition=models.Q(state="open"),
            ),
            # A hospital's page: its results, newest first.
            models.Index(fields=["hospital", "-raised_at"], name="critical_hospital_raised_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["report", "position"], name="critical_result_one_per_finding"
            ),
            models.CheckConstraint(
                name="critical_result_acknowledged_has_when_and_how",
                condition=models.Q(state="open")
                | models.Q(acknowledged_at__isnull=False) & ~models.Q(ack_via=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_category_display()}: {self.finding[:60]}"

    @property
    def is_open(self) -> bool:
        return self.state == State.OPEN

    def seconds_left(self, now=None) -> int:
        return int((self.due_at - (now or timezone.now())).total_seconds())


class Channel(models.TextChoices):
    PORTAL = "portal", _("Portal")
    EMAIL = "email", _("Email")
    MANAGER = "manager", _("Manager alert")


class Outcome(models.TextChoices):
    PENDING = "pending", _("Waiting to be sent")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    # Acknowledged before this one went out: nothing left to tell.
    CANCELLED = "cancelled", _("Not sent: already acknowledged")


class CriticalNotification(models.Model):
    """One attempt to tell one person about one critical result, on one channel."""

    critical_result = models.ForeignKey(
        CriticalResult, on_delete=models.PROTECT, related_name="notifications"
    )
    level = models.PositiveSmallIntegerField()
    # Null for a manager alert; kept (SET_NULL) when the contact is later deleted, the
    # names below saying who it was.
    contact = models.ForeignKey(
        HospitalContact, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(max_length=8, choices=Channel.choices)
    # The address (email), the username (portal); as they were when it was sent.
    recipient = models.CharField(max_length=254, blank=True)
    recipient_name = models.CharField(max_length=200, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.PENDING)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Why it was sent (escalation, no contact) and, on failure, the reason.
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["critical_result_id", "level", "created_at", "id"]
        indexes = [
            # The notify job: this result's notifications still waiting to go.
            models.Index(
                fields=["critical_result"],
                name="critical_notification_pend_idx",
                condition=models.Q(outcome="pending"),
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} to {self.recipient_name or self.recipient}"
