"""Reads of studies and orders, already filtered for the user asking (tenancy on the server)."""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet
from django.utils.translation import gettext as _

from readingcenter.accounts.selectors import privileged_hospitals_q
from readingcenter.errors import NotFound
from readingcenter.studies.models import Order, Series, Study


def _visible_studies(user) -> QuerySet[Study]:
    qs = Study.objects.all()
    if user.sees_all_hospitals:
        return qs
    if user.is_hospital_user and user.hospital_id:
        return qs.filter(hospital_id=user.hospital_id)
    if user.is_radiologist and user.is_active:
        return qs.filter(privileged_hospitals_q(user))
    return qs.none()


def study_list(*, user, filters: dict | None = None) -> QuerySet[Study]:
    filters = filters or {}
    qs = _visible_studies(user).select_related("hospital", "order")
    if value := filters.get("study_instance_uid"):
        qs = qs.filter(study_instance_uid=value)
    if value := filters.get("accession_number"):
        qs = qs.filter(accession_number=value)
    if value := filters.get("hospital"):
        qs = qs.filter(hospital__code=value)
    if value := filters.get("status"):
        qs = qs.filter(status=value)
    if value := filters.get("modality"):
        qs = qs.filter(modalities__contains=[value])
    if value := filters.get("patient_id"):
        qs = qs.filter(patient_id=value)
    if value := filters.get("priority"):
        qs = qs.filter(priority=value)
    if value := str(filters.get("q") or "").strip():
        # What a person types: an accession number or a patient ID as written, or part of a
        # name in any of its scripts.
        qs = qs.filter(
            Q(accession_number__iexact=value)
            | Q(patient_id__iexact=value)
            | Q(patient_name__icontains=value)
        )
    return qs.prefetch_related(
        Prefetch(
            "series", queryset=Series.objects.filter(is_own=False).order_by("series_number", "id")
        ),
        "triage_runs",
    ).order_by("-received_at", "-id")


def study_get(*, user, study_id: int) -> Study:
    study = study_list(user=user).filter(pk=study_id).first()
    if study is None:
        # Another hospital's study and a study that does not exist look the same.
        raise NotFound(_("No such study."))
    return study


def order_list(*, user, filters: dict | None = None) -> QuerySet[Order]:
    qs = Order.objects.select_related("hospital", "study")
    if user.is_hospital_user:
        qs = qs.filter(hospital_id=user.hospital_id)
    elif user.is_radiologist and user.is_active:
        qs = qs.filter(privileged_hospitals_q(user))
    elif not user.sees_all_hospitals:
        qs = qs.none()
    filters = filters or {}
    if value := filters.get("accession_number"):
        qs = qs.filter(accession_number=value)
    if value := filters.get("hospital"):
        qs = qs.filter(hospital__code=value)
    return qs.order_by("-created_at", "-id")


def order_get(*, user, order_id: int) -> Order:
    order = order_list(user=user).filter(pk=order_id).first()
    if order is None:
        raise NotFound(_("No such order."))
    return order


def study_instance_uid_visible(*, user, study_instance_uid: str) -> bool:
    """May this user see the images of every study that carries this StudyInstanceUID?

    Orthanc's DICOMweb answers by StudyInstanceUID alone, and two patients can share a UID
    (a quarantined conflict), so the answer is yes only when every study with the UID is
    visible to the user and none of them is quarantined or rejected.
    """
    if not study_instance_uid or not user.is_authenticated or not user.is_active:
        return False
    studies = Study.objects.filter(study_instance_uid=study_instance_uid)
    total = studies.count()
    if total == 0:
        return False
    visible = _visible_studies(user).filter(
        study_instance_uid=study_instance_uid,
        status__in=["receiving", "complete"],
    )
    return visible.count() == total


def visible_study_instance_uids(*, user, study_instance_uids) -> set[str]:
    """The subset of the given UIDs whose images this user may see (filters QIDO answers)."""
    uids = {uid for uid in study_instance_uids if uid}
    return {uid for uid in uids if study_instance_uid_visible(user=user, study_instance_uid=uid)}
