from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class FollowUp(models.Model):
    """A follow-up a signed report recommends ("CT in 3 months"), tracked until the hospital
    does it: a later study of the patient (hospital, issuer, id) of that modality closes it;
    past its due date it is overdue, and the hospital's users and the managers are told."""

    class State(models.TextChoices):
        OPEN = "open", pgettext_lazy("follow-up state", "Open")
        OVERDUE = "overdue", _("Overdue")
        DONE = "done", pgettext_lazy("follow-up state", "Done")

    report = models.ForeignKey("reports.Report", on_delete=models.PROTECT, related_name="+")
    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    hospital = models.ForeignKey("hospitals.Hospital", on_delete=models.PROTECT, related_name="+")
    patient_id = models.CharField(max_length=64, blank=True)
    issuer_of_patient_id = models.CharField(max_length=64, blank=True)
    modality = models.CharField(max_length=16, blank=True)  # "": any later study closes it
    interval_days = models.PositiveIntegerField()
    due_date = models.DateField()
    sentence = models.TextField()
    language = models.CharField(max_length=8)
    state = models.CharField(max_length=8, choices=State.choices, default=State.OPEN)
    closed_by = models.ForeignKey(
        "studies.Study", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    alerted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_date", "id"]
        indexes = [
            models.Index(fields=["hospital", "patient_id", "state"]),
            models.Index(fields=["state", "due_date"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["report", "sentence"], name="followup_once_per_report_sentence"
            )
        ]

    def __str__(self) -> str:
        return f"{self.modality or 'study'} by {self.due_date} ({self.state})"
