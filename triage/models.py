"""What the AI did with each study version: one immutable record per model per version."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class RunStatus(models.TextChoices):
    SUCCEEDED = "succeeded", _("Succeeded")
    NOT_APPLICABLE = "not_applicable", _("Not applicable")
    # Made for this study, but its images fall outside what the model was validated on: the
    # scores are kept for the record and flag nothing, so the run never moves a priority.
    LOW_CONFIDENCE = "low_confidence", _("Low confidence")
    FAILED = "failed", _("Failed")


# Where triage.core's input checks put their stable code in a run's detail
# ({"input_check": {"code": "slice_count", ...}}): a not_applicable run carrying it was made for
# this kind of study and withheld by a check, which the radiologist should hear about; one
# without it simply did not fit (a CT model on a radiograph), which is noise on a worklist.
INPUT_CHECK_KEY = "input_check"


class TriageRun(models.Model):
    """One model's run on one version of a study.

    Immutable: the database refuses UPDATE and DELETE (migration 0002). A late series makes a
    new study version and a new model version makes a new run; neither edits an old one, so
    what the AI said at the time stays what the record says.
    """

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="triage_runs")
    study_version = models.PositiveIntegerField()
    model_name = models.CharField(max_length=64)
    model_version = models.CharField(max_length=32)
    weights_sha256 = models.CharField(max_length=64)
    # The operating thresholds in force for this model version, per finding code.
    thresholds = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=RunStatus.choices)
    series_instance_uid = models.CharField(max_length=64, blank=True)
    sop_instance_uids = models.JSONField(default=list, blank=True)
    probabilities = models.JSONField(default=dict, blank=True)
    flags = models.JSONField(default=dict, blank=True)
    # Positive findings only, each marked AI-generated; never a negative statement.
    draft_findings = models.JSONField(default=list, blank=True)
    runtime_ms = models.FloatField(null=True, blank=True)
    reason = models.TextField(
        blank=True, help_text=_("why not applicable or low confidence, or why it failed")
    )
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # A retried job finds the run it already recorded instead of adding a twin.
            models.UniqueConstraint(
                fields=["study", "study_version", "model_name", "model_version"],
                name="triage_run_once_per_model_and_study_version",
            )
        ]
        indexes = [
            # Live monitoring, without scanning the archive: the runs of the last hour and
            # day, and each model version's first runs (its drift reference).
            models.Index(fields=["created_at"], name="triage_run_created_idx"),
            models.Index(
                fields=["model_name", "model_version", "created_at"],
                name="triage_run_model_time_idx",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.model_name} {self.model_version} on study {self.study_id} v{self.study_version}"
        )

    @property
    def flagged(self) -> list[str]:
        # Only a succeeded run may flag (a low-confidence one keeps its scores, flags nothing).
        if self.status != RunStatus.SUCCEEDED:
            return []
        return [code for code, flag in self.flags.items() if flag]

    @property
    def withheld(self) -> bool:
        """The model was made for this study but did not speak: its images fell outside what
        it was validated on (low confidence), or an input check found it not applicable."""
        return self.status == RunStatus.LOW_CONFIDENCE or (
            self.status == RunStatus.NOT_APPLICABLE and INPUT_CHECK_KEY in (self.detail or {})
        )


# -- model versions: which may run, and what live monitoring found ------------------------------


class VersionState(models.TextChoices):
    ACTIVE = "active", _("Active")
    PAUSED = "paused", pgettext_lazy("model version state", "Paused")


class ModelVersion(models.Model):
    """A model package version a worker has loaded, and whether it may run.

    Registered by the worker that loads the package (triage job or the monitoring pass), with
    the card as it was loaded: the web process never loads weights, yet the model page shows
    the card, and a published version is never rewritten. A paused version runs nothing: its
    triage jobs record no run for it and remember the study as awaiting it (TriageAwaiting).
    """

    model_name = models.CharField(max_length=64)
    model_version = models.CharField(max_length=32)
    weights_sha256 = models.CharField(max_length=64)
    card = models.JSONField(default=dict, blank=True)
    state = models.CharField(
        max_length=8, choices=VersionState.choices, default=VersionState.ACTIVE
    )
    state_changed_at = models.DateTimeField(null=True, blank=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    # When a worker last had it loaded: a version dropped from the model folders stays on
    # record (its runs and alarms point at it) but the page says it is no longer loaded.
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["model_name", "-first_seen_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_name", "model_version"], name="triage_model_version_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.model_name} {self.model_version}"

    @property
    def is_paused(self) -> bool:
        return self.state == VersionState.PAUSED


class ModelVersionChange(models.Model):
    """One pause or resume of a model version: who, when and why (the page's history)."""

    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="changes"
    )
    state = models.CharField(max_length=8, choices=VersionState.choices)
    # Append-only (the database refuses UPDATE and DELETE, migration 0004): the history of
    # who stopped a model, and why, is not rewritten; so the actor is protected, not nulled.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=150)
    reason = models.TextField()
    at = models.DateTimeField(auto_now_add=True)
    # How many studies a resume queued for re-triage (0 for a pause).
    queued = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.model_version} {self.state} by {self.actor_label}"


class TriageAwaiting(models.Model):
    """A study version that completed while a model version made for it was paused.

    One row per study and paused version, kept at the study's newest version. It goes when a
    run of that model (this version or a newer one) is recorded on the study; a resume, or a
    newer version of the same model loaded, queues a re-triage job for each study still here.
    """

    study = models.ForeignKey("studies.Study", on_delete=models.CASCADE, related_name="+")
    study_version = models.PositiveIntegerField()
    model_name = models.CharField(max_length=64)
    model_version = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)
    # When a re-triage job was last queued for it (a job whose model was paused again finds
    # the study awaiting once more and clears nothing).
    queued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "model_name", "model_version"],
                name="triage_awaiting_once_per_study_and_version",
            )
        ]
        indexes = [
            # The release on resume or replacement, and the model page's count.
            models.Index(fields=["model_name", "model_version"], name="triage_awaiting_model_idx")
        ]

    def __str__(self) -> str:
        return (
            f"study {self.study_id} v{self.study_version} awaits "
            f"{self.model_name} {self.model_version}"
        )


class AlarmWindow(models.TextChoices):
    HOUR = "hour", _("Last hour")
    DAY = "day", _("Last day")


class AlarmKind(models.TextChoices):
    # Many more positives than expected: a model that escalates everything (the worklist
    # order collapses into "everything is STAT").
    HIGH = "high", _("Positive rate above its band")
    # Far fewer than expected: a model that may have gone quiet on real findings (a warning).
    LOW = "low", _("Positive rate below its band")
    # Many of the studies it was made for withheld as unlike its validation data (the novelty
    # check): a hospital's images have changed, and the model says nothing on them.
    WITHHELD = "withheld", _("Studies withheld as unlike its validation data")


class ModelAlarm(models.Model):
    """The positive rate of one model version left its band in one window: fired once.

    The key is (version, window, kind, window_start), window_start being the clock hour (or
    UTC day) in which the pass saw it. The monitoring pass claims the row with INSERT ... ON
    CONFLICT DO NOTHING and tells the managers only if the insert happened, so any number of
    passes and workers announce one excursion once per hour (hour window) or day (day window).
    """

    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="alarms")
    window = models.CharField(max_length=8, choices=AlarmWindow.choices)
    kind = models.CharField(max_length=8, choices=AlarmKind.choices)
    window_start = models.DateTimeField()
    fired_at = models.DateTimeField()
    studies = models.PositiveIntegerField()
    positives = models.PositiveIntegerField()
    rate = models.FloatField()
    expected_rate = models.FloatField()
    alert_factor = models.FloatField()
    min_studies = models.PositiveIntegerField()
    # The card said nothing of monitoring: the expectations were the defaults.
    defaults_used = models.BooleanField(default=False)
    message = models.TextField()

    class Meta:
        ordering = ["-fired_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "window", "kind", "window_start"],
                name="triage_model_alarm_once_per_window",
            )
        ]

    def __str__(self) -> str:
        return f"{self.model_version}: {self.get_kind_display()} ({self.get_window_display()})"


class NotificationOutcome(models.TextChoices):
    PENDING = "pending", _("Waiting to be sent")
    # Claimed by a worker for sending; it stays so if that worker died in the middle and is
    # never sent again (at most once, as the SLA e-mails).
    SENDING = "sending", _("Being sent")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class ModelAlarmNotification(models.Model):
    """One manager e-mailed about one alarm (the ops dashboard shows the alarm itself)."""

    alarm = models.ForeignKey(ModelAlarm, on_delete=models.CASCADE, related_name="notifications")
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    address = models.CharField(max_length=254)
    outcome = models.CharField(max_length=8, choices=NotificationOutcome.choices)
    sent_at = models.DateTimeField(null=True, blank=True)
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The sender: e-mails still waiting.
            models.Index(
                fields=["id"],
                name="triage_alarm_mail_pending_idx",
                condition=models.Q(outcome="pending"),
            )
        ]

    def __str__(self) -> str:
        return f"alarm {self.alarm_id} to {self.address}"
