"""What critical results answer on the hook points of the layers below (readingcenter.hooks).

Imported by CriticalConfig.ready().
"""

from __future__ import annotations

from django.urls import reverse

from readingcenter import hooks
from readingcenter.critical.selectors import critical_results_for_report
from readingcenter.critical.services import critical_results_open


@hooks.subscribe("audit.target_link")
def audit_target_link(*, event) -> str | None:
    if event.target_type == "critical.criticalresult" and event.target_id.isdigit():
        return reverse("critical-result-detail", args=[int(event.target_id)])
    return None


@hooks.subscribe("reports.report_signed")
def report_signed(*, report, user, request) -> None:
    # In the signing transaction, after delivery's subscriber: the results and their notify
    # jobs commit with the signature.
    if report.critical_findings:
        critical_results_open(report=report, actor=user, request=request)


@hooks.subscribe("reports.report_page")
def report_page(*, report, user) -> dict:
    # The communication record of the critical findings this version (or an earlier) raised.
    return {"critical_results": list(critical_results_for_report(report=report))}
