"""Reads of deliveries, filtered for the user: a hospital sees what it is owed, managers all."""

from __future__ import annotations

from django.db.models import QuerySet

from readingcenter.accounts.selectors import privileged_hospitals_q
from readingcenter.delivery.models import Delivery


def delivery_list(*, user, filters: dict | None = None) -> QuerySet[Delivery]:
    filters = filters or {}
    qs = Delivery.objects.select_related("endpoint", "report", "hospital")
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return qs.none()
    if user.is_hospital_user:
        qs = qs.filter(hospital_id=user.hospital_id)
    elif user.is_radiologist:
        qs = qs.filter(privileged_hospitals_q(user))
    elif not user.is_manager:
        return qs.none()
    if filters.get("state"):
        qs = qs.filter(state=filters["state"])
    if filters.get("report"):
        qs = qs.filter(report_id=filters["report"])
    if filters.get("hospital"):
        qs = qs.filter(hospital__code=filters["hospital"])
    return qs.order_by("-id")


def deliveries_failed_count() -> int:
    return Delivery.objects.filter(state="failed").count()
