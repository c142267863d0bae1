from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from readingcenter.studies.models import Priority

OPEN_STATES = ("unread", "claimed", "in_report")
# A reader holds the case: his load, and what an idle claim returns to the pool from.
CLAIMED_STATES = ("claimed", "in_report")


def sla_status_of(state: str, due_at, at_risk_at, now) -> str:
    """'ok', 'at_risk' (amber) or 'breached' (red); a closed case keeps no clock. A case's
    ``sla_status``, and the API's for a row read without its model instance."""
    if state not in OPEN_STATES:
        return "closed"
    if now >= due_at:
        return "breached"
    if now >= at_risk_at:
        return "at_risk"
    return "ok"


class CaseState(models.TextChoices):
    UNREAD = "unread", _("Unread")
    CLAIMED = "claimed", pgettext_lazy("case state", "Claimed")
    IN_REPORT = "in_report", _("In report")
    SIGNED = "signed", pgettext_lazy("case state", "Signed")
    # Only by a manager's explicit, audited action (a duplicate, a study sent by mistake).
    REMOVED = "removed", _("Removed by a manager")


class Case(models.Model):
    """A study on the worklist: who reads it, by when, and in what order.

    The ordering columns are copied from the study, its SLA policy and its AI runs when they
    change, so that the worklist is one indexed query whatever the size of the archive.
    """

    study = models.OneToOneField("studies.Study", on_delete=models.CASCADE, related_name="case")
    hospital = models.ForeignKey("hospitals.Hospital", on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=16, choices=CaseState.choices, default=CaseState.UNREAD)

    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.ROUTINE)
    priority_rank = models.PositiveSmallIntegerField(default=2)
    # The clock starts at the study's first completion; a late series does not restart it.
    arrived_at = models.DateTimeField()
    due_at = models.DateTimeField()
    at_risk_at = models.DateTimeField()
    # Highest probability among the AI's findings on the current version (0: no AI result).
    ai_score = models.FloatField(default=0.0)
    ai_flagged = models.BooleanField(default=False)
    # Why a model made for this study did not speak on its current version (low confidence,
    # or an input check): the worklist says "AI not applied" with it, never a silent blank
    # that a reader could take for a negative. Empty when every applicable model spoke.
    ai_note = models.CharField(max_length=500, blank=True)

    modality = models.CharField(max_length=16, blank=True)
    modalities = ArrayField(models.CharField(max_length=16), default=list, blank=True)
    body_part = models.CharField(max_length=64, blank=True)
    subspecialty = models.CharField(max_length=16, blank=True)

    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="claimed_cases",
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Any sign of the reader (page heartbeat, viewer, report save); idle claims expire from it.
    last_activity_at = models.DateTimeField(null=True, blank=True)
    # Turnaround: the first preliminary report (an emergency department waits for it), and
    # the final one (signed_at), both measured from arrived_at.
    preliminary_at = models.DateTimeField(null=True, blank=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    removed_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # The worklist: open cases in reading order. Partial, so its size follows the
            # open queue (thousands), not the archive (millions); the hospital filter is
            # applied while walking it in order, and LIMIT stops early.
            models.Index(
                "priority_rank",
                "due_at",
                models.F("ai_score").desc(),
                "arrived_at",
                "id",
                name="case_worklist_order_idx",
                condition=models.Q(state__in=OPEN_STATES),
            ),
            # "Mine", a radiologist's load, and idle-claim expiry.
            models.Index(
                fields=["claimed_by", "state"],
                name="case_claimed_idx",
                condition=models.Q(state__in=["claimed", "in_report"]),
            ),
            # Counting a radiologist's open cases (the page's total) from the index alone: the
            # open rows are scattered among millions of signed ones, and visiting their heap
            # pages cost 7 ms of a 100,000-study worklist page.
            models.Index(
                fields=["hospital", "state"],
                name="case_open_hospital_idx",
                condition=models.Q(state__in=OPEN_STATES),
            ),
        ]
        constraints = [
            # The one-reader rule, stated to the database as well: a claimed case has a
            # reader, an unread one has none.
            models.CheckConstraint(
                name="case_claim_consistent",
                condition=(
                    models.Q(state__in=["claimed", "in_report"], claimed_by__isnull=False)
                    | models.Q(state="unread", claimed_by__isnull=True)
                    | models.Q(state__in=["signed", "removed"])
                ),
            )
        ]

    def __str__(self) -> str:
        return f"case {self.pk} ({self.get_state_display()})"

    # -- the model's own questions ------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def sla_status(self, now=None) -> str:
        """'ok', 'at_risk' (amber) or 'breached' (red); a closed case keeps no clock."""
        if not self.is_open:
            return "closed"
        return sla_status_of(self.state, self.due_at, self.at_risk_at, now or timezone.now())

    def seconds_left(self, now=None) -> int:
        return int((self.due_at - (now or timezone.now())).total_seconds())


class AssignmentDecision(models.Model):
    """Why a case went where it went: the rule that matched and every candidate considered."""

    class Kind(models.TextChoices):
        AUTO = "auto", _("Auto-assignment")
        REASSIGN = "reassign", _("Manager reassignment")
        EXPIRED = "expired", _("Idle claim returned to the pool")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="decisions")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    rule = models.CharField(max_length=200)
    # [{"user_id", "username", "load", "on_duty", "modality", "subspecialty", "eligible", "why"}]
    candidates = models.JSONField(default=list, blank=True)
    chosen = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    previous = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor = models.CharField(max_length=150)
    reason = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} case {self.case_id}: {self.rule}"
