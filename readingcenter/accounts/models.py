from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    HOSPITAL = "hospital", _("Hospital user")
    RADIOLOGIST = "radiologist", _("Radiologist")
    MANAGER = "manager", _("Manager")
    ADMIN = "admin", _("Administrator")


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(
            _("%(value)s is not an IANA time zone (e.g. Asia/Seoul)") % {"value": repr(value)}
        )


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
    # The interface's language (pages, e-mails, API messages, the viewer); blank: the browser's.
    language = models.CharField(max_length=8, blank=True, choices=settings.LANGUAGES)
    # A hospital user may ask for the second factor; everyone else has it (requires_...).
    second_factor_chosen = models.BooleanField(
        default=False, help_text=_("Hospital users: ask for an authenticator code at sign-in.")
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="hospital_user_has_hospital",
                condition=~models.Q(role="hospital") | models.Q(hospital__isnull=False),
                violation_error_message=_("A hospital user must belong to a hospital."),
            ),
        ]

    def clean(self) -> None:
        super().clean()
        if self.role == Role.HOSPITAL and self.hospital_id is None:
            raise ValidationError({"hospital": _("A hospital user must belong to a hospital.")})
        if self.role != Role.HOSPITAL and self.hospital_id is not None:
            raise ValidationError({"hospital": _("Only hospital users belong to a hospital.")})

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
    def requires_second_factor(self) -> bool:
        """Those who read or run the center always; a hospital user who chose it."""
        return self.role != Role.HOSPITAL or self.is_superuser or self.second_factor_chosen

    @property
    def sees_all_hospitals(self) -> bool:
        # Radiologists see only the hospitals where they hold a valid privilege (selectors).
        return self.is_active and self.is_manager


# -- who may read what -----------------------------------------------------------------------


class Subspecialty(models.TextChoices):
    NEURO = "neuro", _("Neuroradiology")
    CHEST = "chest", _("Chest")
    MSK = "msk", _("Musculoskeletal")
    BODY = "body", _("Body (abdomen and pelvis)")
    BREAST = "breast", _("Breast")
    CARDIAC = "cardiac", _("Cardiac")
    GENERAL = "general", _("General")


class RadiologistProfile(models.Model):
    """What a radiologist reads. Empty lists mean no restriction (a generalist)."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="radiologist_profile")
    subspecialties = ArrayField(
        models.CharField(max_length=16, choices=Subspecialty.choices), default=list, blank=True
    )
    # DICOM Modality values (CT, MR, CR, DX, US, ...) he reads.
    modalities = ArrayField(models.CharField(max_length=16), default=list, blank=True)

    def __str__(self) -> str:
        return f"{self.user.get_username()} profile"

    def reads_modality(self, modalities: list[str]) -> bool:
        return not self.modalities or bool(set(self.modalities) & set(modalities))

    def reads_subspecialty(self, subspecialty: str) -> bool:
        return not self.subspecialties or subspecialty in self.subspecialties


class Privilege(models.Model):
    """A radiologist's credential at one referring hospital, often with a licence that expires.

    Valid on a day when valid_from <= day <= valid_until (no valid_until: no expiry) and not
    revoked. Days are UTC days: one rule for every server, whatever the hospital's zone.
    """

    radiologist = models.ForeignKey(User, on_delete=models.CASCADE, related_name="privileges")
    hospital = models.ForeignKey(
        "hospitals.Hospital", on_delete=models.CASCADE, related_name="privileges"
    )
    licence_number = models.CharField(max_length=64, blank=True)
    valid_from = models.DateField()
    valid_until = models.DateField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["hospital__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["radiologist", "hospital"], name="privilege_unique_per_hospital"
            ),
            models.CheckConstraint(
                name="privilege_period_ordered",
                condition=models.Q(valid_until__isnull=True)
                | models.Q(valid_until__gte=models.F("valid_from")),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.radiologist.get_username()} @ {self.hospital_id}"

    @staticmethod
    def valid_on_q(day, prefix: str = "") -> models.Q:
        return models.Q(
            **{f"{prefix}valid_from__lte": day, f"{prefix}revoked_at__isnull": True}
        ) & (
            models.Q(**{f"{prefix}valid_until__isnull": True})
            | models.Q(**{f"{prefix}valid_until__gte": day})
        )

    def is_valid_on(self, day) -> bool:
        return (
            self.revoked_at is None
            and self.valid_from <= day
            and (self.valid_until is None or day <= self.valid_until)
        )


class Shift(models.Model):
    """A period a radiologist is on duty; auto-assignment only picks radiologists on duty."""

    radiologist = models.ForeignKey(User, on_delete=models.CASCADE, related_name="shifts")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()

    class Meta:
        ordering = ["starts_at"]
        indexes = [models.Index(fields=["radiologist", "ends_at"])]
        constraints = [
            models.CheckConstraint(
                name="shift_ends_after_start", condition=models.Q(ends_at__gt=models.F("starts_at"))
            )
        ]

    def __str__(self) -> str:
        return f"{self.radiologist.get_username()} {self.starts_at:%Y-%m-%d %H:%M}"


class SignInFailure(models.Model):
    """One failed sign-in for a username (whether or not such a user exists).

    Kept as rows, not a counter: the lockout counts those in a sliding window, a manager sees
    who tried from where, and unlocking is clearing them (``accounts.services``).
    """

    username = models.CharField(max_length=150, db_index=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.username} at {self.at:%Y-%m-%d %H:%M:%S}"


class Scope(models.TextChoices):
    """What an API token may do. The role still decides whose objects (tenancy)."""

    ORDERS_WRITE = "orders:write", _("Send orders (create, change, cancel)")
    PORTAL_READ = "portal:read", _("Read the hospital's studies, reports, deliveries, results")
    CRITICAL_ACKNOWLEDGE = "critical:acknowledge", _("Acknowledge critical results")
    READING = "reading", _("Read cases and write reports (radiologists' tools)")
    MANAGEMENT = "management", _("Everything a manager does through the API")


# Which scopes a token may carry for a user of each role.
SCOPES_FOR_ROLE = {
    Role.HOSPITAL: {Scope.ORDERS_WRITE, Scope.PORTAL_READ, Scope.CRITICAL_ACKNOWLEDGE},
    Role.RADIOLOGIST: {Scope.READING, Scope.PORTAL_READ},
    Role.MANAGER: set(Scope),
    Role.ADMIN: set(Scope),
}


class ApiToken(models.Model):
    """A credential for a system (or a person's tool): scoped, expiring, revocable.

    Only a hash of the key is stored; the key is shown once, when the token is made
    (``accounts.services.api_token_create``). ``prefix`` names it to people and in the audit.
    """

    prefix = models.CharField(max_length=12, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text=_("What uses it, e.g. 'RIS order feed'."))
    scopes = ArrayField(models.CharField(max_length=32, choices=Scope.choices))
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… {self.name} ({self.user})"
