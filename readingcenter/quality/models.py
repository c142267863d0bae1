from __future__ import annotations

from django.db import models


class AIDisagreement(models.Model):
    """A final read that contradicts a model version: it flagged a finding the signer did not
    keep, or it stayed silent on a finding the signer called critical. With the model's
    probability and threshold, so that the next threshold is chosen from real reads."""

    class Kind(models.TextChoices):
        FLAG_NOT_CONFIRMED = "flag_not_confirmed", "AI flagged, the reader did not confirm"
        FINDING_NOT_FLAGGED = "finding_not_flagged", "Reader found it, the AI did not flag"

    report = models.ForeignKey("reports.Report", on_delete=models.PROTECT, related_name="+")
    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    hospital = models.ForeignKey("hospitals.Hospital", on_delete=models.PROTECT, related_name="+")
    model_name = models.CharField(max_length=64)
    model_version = models.CharField(max_length=32)
    finding = models.CharField(max_length=64)  # the model's finding code ("ich")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    probability = models.FloatField(null=True, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    reader_words = models.TextField(blank=True)  # what the signer wrote of it, if anything
    signed_at = models.DateTimeField()

    class Meta:
        ordering = ["-signed_at", "-id"]
        indexes = [models.Index(fields=["model_name", "model_version", "-signed_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["report", "model_name", "model_version", "finding"],
                name="ai_disagreement_once_per_report_finding",
            )
        ]

    def __str__(self) -> str:
        return f"{self.model_name} {self.model_version} {self.finding}: {self.kind}"
