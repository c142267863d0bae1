from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from readingcenter.studies.models import Priority


class SlaPolicy(models.Model):
    """A hospital's turnaround promise for one priority, counted from the study's completion.

    A hospital without a policy for a priority gets the reading center's default
    (settings.SLA_DEFAULT_MINUTES): every case has a deadline.
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
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["hospital__name", "priority"]
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"
        constraints = [
            models.UniqueConstraint(fields=["hospital", "priority"], name="sla_policy_unique"),
            models.CheckConstraint(
                name="sla_at_risk_percent_range",
                condition=models.Q(at_risk_percent__gte=1, at_risk_percent__lte=99),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.hospital_id} {self.priority}: {self.target_minutes} min"
