"""What delivery answers on the hook points of the layers below it (readingcenter.hooks).

Imported by DeliveryConfig.ready().
"""

from __future__ import annotations

from readingcenter import hooks
from readingcenter.delivery.api import ReportDeliveriesField
from readingcenter.delivery.selectors import REPORT_DELIVERIES, deliveries_for_report
from readingcenter.delivery.services import deliveries_create


@hooks.subscribe("reports.report_signed")
def report_signed(*, report, user, request) -> None:
    # In the signing transaction: the outbox rows and their drain jobs commit with it.
    deliveries_create(report=report)


@hooks.subscribe("reports.report_fields")
def report_fields() -> dict:
    # Every report in the API says where it went (its hospital's systems read them there).
    return {"deliveries": ReportDeliveriesField()}


@hooks.subscribe("reports.report_prefetch")
def report_prefetch():
    # One query for the deliveries of a whole list of reports, not one per report.
    return REPORT_DELIVERIES


@hooks.subscribe("reports.report_page")
def report_page(*, report, user) -> dict:
    # What was sent to the hospital, each with its state (managers retry the failed ones).
    return {"deliveries": deliveries_for_report(report)}
