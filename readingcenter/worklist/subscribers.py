"""What the worklist answers on the hook points of the layers below it (readingcenter.hooks).

Imported by WorklistConfig.ready().
"""

from __future__ import annotations

from django.db.models import Q
from django.urls import reverse

from readingcenter import hooks
from readingcenter.worklist.models import Case
from readingcenter.worklist.services import case_cancel_for_order, case_sync_from_study


@hooks.subscribe("audit.study_targets")
def audit_study_targets(*, study_id: int) -> Q:
    # The study's case, audited under its own target.
    case_ids = [
        str(pk) for pk in Case.objects.filter(study_id=study_id).values_list("pk", flat=True)
    ]
    return Q(target_type="worklist.case", target_id__in=case_ids)


@hooks.subscribe("audit.target_link")
def audit_target_link(*, event) -> str | None:
    if event.target_type == "worklist.case" and event.target_id.isdigit():
        return reverse("case-detail", args=[int(event.target_id)])
    return None


@hooks.subscribe("studies.study_changed")
def study_changed(*, study) -> None:
    # A complete study was written: open its case, or bring it in step (priority, AI, series).
    case_sync_from_study(study)


@hooks.subscribe("studies.order_cancelled")
def order_cancelled(*, study, order, reason: str) -> None:
    case_cancel_for_order(study=study, reason=reason)
