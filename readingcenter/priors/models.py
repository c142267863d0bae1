from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class PriorLookup(models.Model):
    """The search for one new study's priors at its hospital's PACS (one per study)."""

    class State(models.TextChoices):
        PENDING = "pending", _("Looking")
        DONE = "done", pgettext_lazy("priors lookup", "Done")
        FAILED = "failed", _("Priors unavailable")

    study = models.OneToOneField(
        "studies.Study", on_delete=models.CASCADE, related_name="prior_lookup"
    )
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    found = models.PositiveIntegerField(default=0)  # the patient's studies the PACS answered
    chosen = models.PositiveIntegerField(default=0)  # relevant by the hospital's rules
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    next_try_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"priors of study {self.study_id}: {self.state}"


class PriorFetch(models.Model):
    """One earlier study asked of the hospital's PACS for a lookup. Recorded (and committed)
    before the move, so that ingest knows the arriving study for a prior."""

    class State(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        RETRIEVED = "retrieved", _("Retrieved")
        FAILED = "failed", _("Failed")

    lookup = models.ForeignKey(PriorLookup, on_delete=models.CASCADE, related_name="fetches")
    hospital = models.ForeignKey("hospitals.Hospital", on_delete=models.CASCADE, related_name="+")
    study_instance_uid = models.CharField(max_length=64)
    study_date = models.CharField(max_length=8, blank=True)
    study_description = models.CharField(max_length=200, blank=True)
    modalities = models.CharField(max_length=64, blank=True)
    instances = models.PositiveIntegerField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.REQUESTED)
    error = models.TextField(blank=True)
    requested_at = models.DateTimeField(auto_now_add=True)
    retrieved_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True)  # how long the retrieve took

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["lookup", "study_instance_uid"], name="prior_fetch_once_per_lookup"
            )
        ]
        indexes = [models.Index(fields=["hospital", "study_instance_uid"])]

    def __str__(self) -> str:
        return f"{self.study_instance_uid} ({self.state})"
