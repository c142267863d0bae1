from __future__ import annotations

from django.db.models import QuerySet

from readingcenter.hospitals.models import (
    Hospital,
    HospitalAETitle,
    HospitalPACS,
    normalise_ae_title,
)


def hospital_for_ae_title(ae_title: str | None) -> Hospital | None:
    """The active hospital that sends from this calling AE title, or None (quarantine)."""
    ae_title = normalise_ae_title(ae_title or "")
    if not ae_title:
        return None
    row = (
        HospitalAETitle.objects.select_related("hospital")
        .filter(ae_title=ae_title, hospital__is_active=True)
        .first()
    )
    if row is None:
        # The hospital's own PACS sends the priors we asked it for (C-MOVE): its AE title is
        # the hospital's too.
        row = (
            HospitalPACS.objects.select_related("hospital")
            .filter(ae_title=ae_title, hospital__is_active=True)
            .first()
        )
    return row.hospital if row else None


def hospital_by_code(code: str | None) -> Hospital | None:
    """The hospital with this code, or None (no code, or none has it): each caller answers an
    unknown code in its own way (a field error, a 404, a message on the page)."""
    if not code:
        return None
    return Hospital.objects.filter(code=code).first()


def hospital_list(*, user) -> QuerySet[Hospital]:
    qs = Hospital.objects.prefetch_related("ae_titles").order_by("name")
    if user.sees_all_hospitals:
        return qs
    if user.is_hospital_user:
        return qs.filter(id=user.hospital_id)
    if user.is_radiologist and user.is_active:
        from readingcenter.accounts.selectors import privileged_hospitals_q

        return qs.filter(privileged_hospitals_q(user, field="id"))
    return qs.none()
