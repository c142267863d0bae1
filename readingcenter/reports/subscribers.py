"""What the reports app answers on the hook points of the layers below it (readingcenter.hooks).

Imported by ReportsConfig.ready().
"""

from __future__ import annotations

from django.db.models import Q
from django.urls import reverse

from readingcenter import hooks
from readingcenter.reports.models import Report
from readingcenter.reports.selectors import signed_reports_for_study


@hooks.subscribe("audit.study_targets")
def audit_study_targets(*, study_id: int) -> Q:
    # The study's reports, each audited under its own target.
    report_ids = [
        str(pk) for pk in Report.objects.filter(study_id=study_id).values_list("pk", flat=True)
    ]
    return Q(target_type="reports.report", target_id__in=report_ids)


@hooks.subscribe("audit.target_link")
def audit_target_link(*, event) -> str | None:
    if event.target_type == "reports.report" and event.target_id.isdigit():
        return reverse("report-detail", args=[int(event.target_id)])
    return None


@hooks.subscribe("studies.study_page")
def study_page(*, study, user) -> dict:
    # The hospital's view of its reports: signed versions only, with their delivery.
    versions = signed_reports_for_study(user=user, study=study)
    return {
        "versions": versions,
        "reported": any(v.kind in ("final", "addendum") for v in versions),
    }
