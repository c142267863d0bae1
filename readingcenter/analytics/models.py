"""RVU weights: how much work a read counts for in radiologist productivity.

A read is weighted by the first weight that matches it, most specific first: the ordered
procedure's text (the hospital's requested procedure, else the study description), then
modality + body part, then the modality alone. A read nothing matches counts as a read with no
weight: productivity shows both figures, so a missing weight is visible rather than a zero.
"""

from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class RvuWeight(models.Model):
    modality = models.CharField(
        max_length=16, help_text=_("DICOM Modality: CT, MR, CR, DX, US, ...")
    )
    body_part = models.CharField(
        max_length=64, blank=True, help_text=_("HEAD, CHEST, ...; blank: any body part")
    )
    procedure = models.CharField(
        max_length=200,
        blank=True,
        help_text=_("requested procedure as hospitals write it (case-insensitive); blank: any"),
    )
    code = models.CharField(
        max_length=32, blank=True, help_text=_("e.g. the CPT code, for reference")
    )
    rvu = models.DecimalField(
        max_digits=6, decimal_places=2, validators=[MinValueValidator(0)], help_text=_("work RVU")
    )
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["modality", "body_part", "procedure"]
        verbose_name = _("RVU weight")
        constraints = [
            models.UniqueConstraint(
                fields=["modality", "body_part", "procedure"], name="rvu_weight_unique"
            )
        ]

    def __str__(self) -> str:
        what = self.procedure or " ".join(p for p in (self.modality, self.body_part) if p)
        return f"{what}: {self.rvu} RVU"
