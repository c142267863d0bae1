"""Crafted rows for the dashboard: cases with chosen clocks, signed reports, failed
deliveries and open critical results, written straight to the tables (what the dashboard
reads), so that each figure can be computed by hand."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.utils import timezone

from readingcenter.critical.models import CriticalResult
from readingcenter.delivery.models import Channel, Delivery, DeliveryEndpoint
from readingcenter.reports.models import Report
from readingcenter.worklist.models import Case
from tests.factories import make_case

_seq = itertools.count(1)


@pytest.fixture
def now():
    return timezone.now()


def case_with_clock(
    hospital,
    now,
    *,
    arrived_min,
    due_in_min,
    at_risk_in_min=None,
    priority="routine",
    ai_flagged=False,
    **fields,
) -> Case:
    """An open case that arrived ``arrived_min`` ago and is due in ``due_in_min`` (negative:
    breached); at risk from ``at_risk_in_min`` (default: 30 minutes before the deadline)."""
    case = make_case(hospital, priority=priority, **fields)
    at_risk_in_min = due_in_min - 30 if at_risk_in_min is None else at_risk_in_min
    Case.objects.filter(pk=case.pk).update(
        arrived_at=now - dt.timedelta(minutes=arrived_min),
        due_at=now + dt.timedelta(minutes=due_in_min),
        at_risk_at=now + dt.timedelta(minutes=at_risk_in_min),
        ai_flagged=ai_flagged,
        ai_score=0.9 if ai_flagged else 0.0,
    )
    case.refresh_from_db()
    return case


def signed_report(case, by, *, signed_at, kind="final") -> Report:
    version = Report.objects.filter(study=case.study).count() + 1
    return Report.objects.create(
        study=case.study,
        case=case,
        hospital=case.hospital,
        state="signed",
        kind=kind,
        impression="Normal.",
        author=by,
        signed_by=by,
        signed_at=signed_at,
        version_number=version,
        signature_name=by.get_username(),
        signature_meaning="Author",
        content_sha256="0" * 64,
    )


def failed_delivery(report, *, channel=Channel.HL7) -> Delivery:
    endpoint, _ = DeliveryEndpoint.objects.get_or_create(
        hospital=report.hospital,
        channel=channel,
        name=f"{channel} interface",
        defaults={"host": "127.0.0.1", "port": 2575},
    )
    return Delivery.objects.create(
        report=report,
        endpoint=endpoint,
        hospital=report.hospital,
        channel=channel,
        idempotency_key=f"test-{next(_seq)}-{report.pk}",
        state="failed",
        attempts=8,
        last_error_code="hl7_rejected",
        last_error="AR: unknown patient",
    )


def critical_result(report, now, *, due_in_min=15, state="open") -> CriticalResult:
    fields = {}
    if state == "acknowledged":
        fields = {"acknowledged_at": now, "ack_via": "phone", "acknowledged_by_name": "Dr Lee"}
    return CriticalResult.objects.create(
        report=report,
        position=CriticalResult.objects.filter(report=report).count(),
        study=report.study,
        hospital=report.hospital,
        finding="Acute subdural haematoma",
        category="minutes",
        state=state,
        raised_at=now - dt.timedelta(minutes=5),
        due_at=now + dt.timedelta(minutes=due_in_min),
        **fields,
    )
