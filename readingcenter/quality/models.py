from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class AIDisagreement(models.Model):
    """A final read that contradicts a model version: it flagged a finding the signer did not
    keep, or it stayed silent on a finding the signer called critical. With the model's
    probability and threshold, so that the next threshold is chosen from real reads."""

    class Kind(models.TextChoices):
        FLAG_NOT_CONFIRMED = "flag_not_confirmed", _("AI flagged, the reader did not confirm")
        FINDING_NOT_FLAGGED = "finding_not_flagged", _("Reader found it, the AI did not flag")

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


class PeerReviewPolicy(models.Model):
    """What share of a hospital's signed reports (of one modality, or any) a second
    radiologist scores; managers set it."""

    hospital = models.ForeignKey("hospitals.Hospital", on_delete=models.CASCADE, related_name="+")
    modality = models.CharField(max_length=16, blank=True, help_text=_("empty: every modality"))
    share = models.FloatField(help_text=_("0.05 = one report in twenty, drawn at random"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["hospital", "modality"], name="peer_policy_unique"),
            models.CheckConstraint(
                condition=models.Q(share__gte=0) & models.Q(share__lte=1),
                name="peer_policy_share_is_a_fraction",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.hospital_id} {self.modality or 'any'}: {self.share:.0%}"


class PeerReview(models.Model):
    """A signed report scored by a second radiologist (never its signer), RADPEER style.

    1: concur; 2: a discrepancy in interpretation not ordinarily expected to be made (a: not
    clinically significant, b: likely significant); 3: a discrepancy that should be made most of
    the time (a/b likewise). A 3 is a discrepancy case: the first reader is told and may add an
    addendum, which reaches the hospital by the normal delivery. Scores are seen by managers
    and by the report's reader, nobody else.
    """

    class Reason(models.TextChoices):
        RANDOM = "random", _("Drawn at random")
        REQUESTED = "requested", _("Asked for by the reader")

    class Score(models.TextChoices):
        CONCUR = "1", _("1: concur")
        MINOR = "2a", _("2a: understandable miss, not significant")
        MINOR_SIGNIFICANT = "2b", _("2b: understandable miss, likely significant")
        MAJOR = "3a", _("3a: should be made most of the time, not significant")
        MAJOR_SIGNIFICANT = "3b", _("3b: should be made most of the time, likely significant")

    report = models.OneToOneField("reports.Report", on_delete=models.PROTECT, related_name="+")
    hospital = models.ForeignKey("hospitals.Hospital", on_delete=models.PROTECT, related_name="+")
    modality = models.CharField(max_length=16, blank=True)
    first_reader = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, related_name="peer_reviews_received"
    )
    reason = models.CharField(max_length=10, choices=Reason.choices)
    reviewer = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.PROTECT,
        related_name="peer_reviews_given",
    )  # fmt: skip
    score = models.CharField(max_length=2, choices=Score.choices, blank=True)
    comment = models.TextField(blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(reviewer=models.F("first_reader")),
                name="peer_review_never_by_the_first_reader",
            )
        ]

    def __str__(self) -> str:
        return f"review of report {self.report_id}: {self.score or 'pending'}"

    @property
    def is_discrepancy(self) -> bool:
        return self.score.startswith("3")
