"""What the AI did with each study version: one immutable record per model per version."""

from __future__ import annotations

from django.db import models


class RunStatus(models.TextChoices):
    SUCCEEDED = "succeeded", "Succeeded"
    NOT_APPLICABLE = "not_applicable", "Not applicable"
    # Made for this study, but its images fall outside what the model was validated on: the
    # scores are kept for the record and flag nothing, so the run never moves a priority.
    LOW_CONFIDENCE = "low_confidence", "Low confidence"
    FAILED = "failed", "Failed"


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
        blank=True, help_text="why not applicable or low confidence, or why it failed"
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
