from __future__ import annotations

from django.db.models import QuerySet

from readingcenter.followups.models import FollowUp


def followups_for_hospital(*, user, state: str = "") -> QuerySet[FollowUp]:
    """A hospital user's own hospital's follow-ups (managers: all), overdue and soonest first."""
    qs = FollowUp.objects.select_related("study", "hospital", "closed_by")
    if not user.is_manager:
        qs = qs.filter(hospital_id=user.hospital_id) if user.hospital_id else qs.none()
    if state:
        qs = qs.filter(state=state)
    return qs.order_by("state", "due_date", "id")
