"""Signing a report with critical findings opens one result per finding, in the signing
transaction, with the category's window, audited, and its notify job deferred."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from procrastinate.contrib.django.models import ProcrastinateJob

from readingcenter.audit.models import AuditEvent
from readingcenter.critical.models import CriticalResult
from readingcenter.critical.services import critical_results_open
from readingcenter.errors import DomainError
from readingcenter.reports.models import Report
from tests.critical.conftest import (
    BLEED,
    NODULE,
    PNEUMOTHORAX,
    sign_with_findings,
    signed_report,
)
from tests.factories import make_case

pytestmark = pytest.mark.django_db


def _notify_jobs(result_ids) -> list[int]:
    wanted = set(result_ids)
    return sorted(
        job.args["critical_result_id"]
        for job in ProcrastinateJob.objects.filter(task_name="critical.notify")
        if job.args["critical_result_id"] in wanted
    )


def test_signing_opens_one_result_per_finding_with_its_categorys_window(hospital_a, radiologist):
    report, results = sign_with_findings(hospital_a, radiologist, [BLEED, PNEUMOTHORAX, NODULE])
    assert [(r.finding, r.category, r.state, r.level) for r in results] == [
        (BLEED["finding"], "minutes", "open", 1),
        (PNEUMOTHORAX["finding"], "hours", "open", 1),
        (NODULE["finding"], "days", "open", 1),
    ]
    windows = [r.due_at - r.raised_at for r in results]
    assert windows == [dt.timedelta(minutes=15), dt.timedelta(hours=2), dt.timedelta(days=1)]
    for result in results:
        assert result.raised_at == report.signed_at
        assert (result.report_id, result.study_id, result.hospital_id) == (
            report.pk, report.study_id, hospital_a.pk
        )  # fmt: skip
    assert _notify_jobs(r.pk for r in results) == sorted(r.pk for r in results)
    opened = AuditEvent.objects.filter(action="critical_result.open", actor_label="dr.who")
    assert opened.count() == 3
    assert opened.first().patient_id == report.study.patient_id


def test_the_windows_follow_the_critical_ack_minutes_setting(hospital_a, radiologist, settings):
    settings.CRITICAL_ACK_MINUTES = {"minutes": 5}
    _report, results = sign_with_findings(hospital_a, radiologist, [BLEED, PNEUMOTHORAX])
    assert [r.due_at - r.raised_at for r in results] == [
        dt.timedelta(minutes=5),
        dt.timedelta(hours=2),  # the others keep their default
    ]


def test_a_signature_that_rolls_back_leaves_no_result_and_no_job(hospital_a, radiologist):
    case = make_case(hospital_a)
    with pytest.raises(RuntimeError), transaction.atomic():
        report = signed_report(hospital_a, radiologist, [BLEED], case=case)
        critical_results_open(report=report, actor=radiologist)
        raise RuntimeError("the signature failed after the results were opened")
    assert not Report.objects.filter(case=case).exists()
    assert CriticalResult.objects.count() == 0
    assert not ProcrastinateJob.objects.filter(task_name="critical.notify").exists()


def test_opening_twice_for_the_same_report_creates_nothing_new(hospital_a, radiologist):
    report, first = sign_with_findings(hospital_a, radiologist, [BLEED, PNEUMOTHORAX])
    with transaction.atomic():
        again = critical_results_open(report=report, actor=radiologist)
    assert [r.pk for r in again] == [r.pk for r in first]
    assert CriticalResult.objects.count() == 2
    assert len(_notify_jobs(r.pk for r in first)) == 2


def test_a_final_report_repeating_its_preliminarys_finding_does_not_raise_it_again(
    hospital_a, radiologist
):
    preliminary, [bleed] = sign_with_findings(hospital_a, radiologist, [BLEED], kind="preliminary")
    repeated = {"finding": "  acute subdural haematoma with MIDLINE shift ", "category": "minutes"}
    final, results = sign_with_findings(
        hospital_a, radiologist, [repeated, NODULE], case=preliminary.case, parent=preliminary
    )
    assert results[0].pk == bleed.pk  # the same communication, told once
    assert results[1].report_id == final.pk and results[1].category == "days"
    assert CriticalResult.objects.count() == 2


def test_a_report_without_critical_findings_raises_nothing(hospital_a, radiologist):
    _report, results = sign_with_findings(hospital_a, radiologist, [])
    assert results == [] and CriticalResult.objects.count() == 0


def test_a_draft_or_a_malformed_finding_is_refused_with_a_code(hospital_a, radiologist):
    report = signed_report(hospital_a, radiologist, [BLEED])
    report.state = "draft"  # as the reports code would hold it before signing (not saved)
    with pytest.raises(DomainError) as refused:
        critical_results_open(report=report, actor=radiologist)
    assert refused.value.code == "report_not_signed"
    bad = signed_report(hospital_a, radiologist, [{"finding": "Bleed", "category": "soon"}])
    with pytest.raises(DomainError) as refused:
        critical_results_open(report=bad, actor=radiologist)
    assert refused.value.code == "critical_category_invalid"
    assert refused.value.field == "critical_findings"
