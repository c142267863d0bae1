"""Reads about people: which hospitals a radiologist may read for, who is on duty."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from readingcenter.accounts.models import Privilege, Role, Shift, User


def today_utc():
    return timezone.now().date()


def privileged_hospital_ids(user, *, day=None) -> set[int]:
    """The hospitals whose cases this radiologist may see and claim today."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return set()
    if not user.is_radiologist:
        return set()
    day = day or today_utc()
    # No order: the model's own (by hospital name) would join the hospitals for nothing.
    privileges = Privilege.objects.filter(Privilege.valid_on_q(day), radiologist=user)
    return set(privileges.order_by().values_list("hospital_id", flat=True))


def privileged_hospitals_q(user, *, field: str = "hospital_id", day=None) -> Q:
    """A filter on ``field`` (a hospital id column) for the hospitals the user may see.

    A subquery rather than a list of ids: the query carries the rule. The worklist's hot
    reads take the ids instead (``privileged_hospital_ids``), see worklist.selectors.
    """
    day = day or today_utc()
    return Q(
        **{
            f"{field}__in": Privilege.objects.filter(
                Privilege.valid_on_q(day), radiologist_id=user.pk
            ).values("hospital_id")
        }
    )


def on_duty_ids(*, at=None) -> set[int]:
    at = at or timezone.now()
    return set(
        Shift.objects.filter(starts_at__lte=at, ends_at__gt=at).values_list(
            "radiologist_id", flat=True
        )
    )


def radiologists_privileged_at(hospital_id: int, *, day=None) -> QuerySet[User]:
    day = day or today_utc()
    return (
        User.objects.filter(role=Role.RADIOLOGIST, is_active=True)
        .filter(
            Privilege.valid_on_q(day, prefix="privileges__"), privileges__hospital_id=hospital_id
        )
        .select_related("radiologist_profile")
        .distinct()
    )


def second_factor_device(user):
    """The user's confirmed authenticator (a TOTP device), or None before enrolment."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("id").first()


def needs_second_factor(user) -> bool:
    """Signed in with a password but not yet with the authenticator code it requires."""
    if not getattr(user, "is_authenticated", False):
        return False
    verified = getattr(user, "is_verified", None)
    return user.requires_second_factor and not (verified and verified())


def language_of(user) -> str:
    """The language to write to ``user`` in when no request carries it (e-mails, PDFs made by
    a job): his own choice, else his hospital's report language, else the center's default
    (also for no user at all: an address nobody signs in with)."""
    if getattr(user, "language", ""):
        return user.language
    hospital = getattr(user, "hospital", None) if getattr(user, "hospital_id", None) else None
    return hospital.report_language if hospital else settings.LANGUAGE_CODE
