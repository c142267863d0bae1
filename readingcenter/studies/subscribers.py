"""What the studies app answers on the hook points of the layers below it (readingcenter.hooks).

Imported by StudiesConfig.ready().
"""

from __future__ import annotations

from django.db.models import Q
from django.urls import reverse

from readingcenter import hooks


@hooks.subscribe("audit.study_targets")
def audit_study_targets(*, study_id: int) -> Q:
    # The study itself; "study" is also matched, as the audit trail's study filter always did.
    return Q(target_type__in=["studies.study", "study"], target_id=str(study_id))


@hooks.subscribe("audit.target_link")
def audit_target_link(*, event) -> str | None:
    if event.target_type == "studies.study" and event.target_id.isdigit():
        return reverse("study-detail", args=[int(event.target_id)])
    return None
