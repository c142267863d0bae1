from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from readingcenter.audit.services import audit_record
from readingcenter.errors import DomainError
from readingcenter.hospitals.models import Hospital, HospitalAETitle, normalise_ae_title


def hospital_create(
    *,
    actor,
    name: str,
    code: str,
    ae_titles: list[str],
    time_zone: str = "UTC",
    report_language: str = "en",
    request=None,
) -> Hospital:
    """Onboard a hospital. It can send at once: the follower looks AE titles up per study."""
    titles = [normalise_ae_title(t) for t in ae_titles]
    if len(set(titles)) != len(titles):
        raise DomainError(
            "ae_title_duplicate", _("The same AE title is listed twice."), field="ae_titles"
        )
    taken = list(
        HospitalAETitle.objects.filter(ae_title__in=titles).values_list("ae_title", flat=True)
    )
    if taken:
        raise DomainError(
            "ae_title_taken",
            _("AE title(s) %(titles)s already belong to another hospital.")
            % {"titles": ", ".join(sorted(taken))},
            field="ae_titles",
        )
    if Hospital.objects.filter(code=code).exists():
        raise DomainError(
            "hospital_code_taken",
            _("A hospital with code %(code)s exists.") % {"code": repr(code)},
            field="code",
        )
    try:
        with transaction.atomic():
            hospital = Hospital.objects.create(
                name=name, code=code, time_zone=time_zone, report_language=report_language
            )
            HospitalAETitle.objects.bulk_create(
                [HospitalAETitle(hospital=hospital, ae_title=t) for t in titles]
            )
            audit_record(
                actor=actor,
                action="hospital.create",
                target=hospital,
                hospital=hospital,
                request=request,
                detail={"code": code, "ae_titles": titles},
            )
    except IntegrityError as exc:
        # Two managers onboarding the same code or AE title at the same instant.
        raise DomainError(
            "hospital_conflict", _("That code or AE title was just taken; reload and retry.")
        ) from exc
    return hospital


def hospital_set_auto_assign(*, hospital: Hospital, enabled: bool, actor, request=None) -> Hospital:
    """Switch STAT auto-assignment for a hospital; audited like every setting."""
    with transaction.atomic():
        previous = hospital.auto_assign_stat
        hospital.auto_assign_stat = enabled
        hospital.save(update_fields=["auto_assign_stat"])
        audit_record(
            actor=actor,
            action="hospital.set_auto_assign",
            target=hospital,
            hospital=hospital,
            request=request,
            detail={"auto_assign_stat": enabled, "previous": previous},
        )
    return hospital
