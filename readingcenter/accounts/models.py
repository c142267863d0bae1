from __future__ import annotations

import zoneinfo

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models


class Role(models.TextChoices):
    HOSPITAL = "hospital", "Hospital user"
    RADIOLOGIST = "radiologist", "Radiologist"
    MANAGER = "manager", "Manager"
    ADMIN = "admin", "Administrator"


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone (e.g. Asia/Seoul)")


class User(AbstractUser):
    """A person or a hospital system. The role decides what the server lets it see."""

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.RADIOLOGIST)
    # Only hospital users belong to a hospital; it is the tenant boundary for everything they see.
    hospital = models.ForeignKey(
        "hospitals.Hospital",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="users",
    )
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="hospital_user_has_hospital",
                condition=~models.Q(role="hospital") | models.Q(hospital__isnull=False),
                violation_error_message="A hospital user must belong to a hospital.",
            ),
        ]

    def clean(self) -> None:
        super().clean()
        if self.role == Role.HOSPITAL and self.hospital_id is None:
            raise ValidationError({"hospital": "A hospital user must belong to a hospital."})
        if self.role != Role.HOSPITAL and self.hospital_id is not None:
            raise ValidationError({"hospital": "Only hospital users belong to a hospital."})

    # Questions the rest of the code asks about a user, answered in one place.
    @property
    def is_hospital_user(self) -> bool:
        return self.role == Role.HOSPITAL

    @property
    def is_manager(self) -> bool:
        return self.role in {Role.MANAGER, Role.ADMIN} or self.is_superuser

    @property
    def is_radiologist(self) -> bool:
        return self.role == Role.RADIOLOGIST

    @property
    def sees_all_hospitals(self) -> bool:
        # Radiologists see every hospital until privileges narrow it (the worklist issue).
        return self.is_active and (self.is_manager or self.is_radiologist)
