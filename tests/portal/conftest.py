"""Studies of two hospitals at every step from arrival to an amended report."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from readingcenter.studies.models import StudyStatus
from readingcenter.worklist import services
from readingcenter.worklist.models import Case
from tests.factories import make_study
from tests.ops.conftest import case_with_clock, failed_delivery, signed_report


@pytest.fixture
def journey(hospital_a, hospital_b, radiologist):
    """{name: study} for hospital A at each status, and one study of hospital B."""
    now = timezone.now()
    studies = {
        "received": make_study(
            hospital_a, status=StudyStatus.RECEIVING, patient_name="Park^Minho", patient_id="P-RECV"
        )
    }
    waiting = case_with_clock(hospital_a, now, arrived_min=30, due_in_min=-5, priority="stat")
    studies["complete"] = waiting.study
    reading = case_with_clock(hospital_a, now, arrived_min=20, due_in_min=40)
    services.case_claim(case_id=reading.pk, user=radiologist)
    studies["in_reading"] = reading.study
    prelim = case_with_clock(hospital_a, now, arrived_min=90, due_in_min=30)
    signed_report(prelim, radiologist, signed_at=now - dt.timedelta(minutes=10), kind="preliminary")
    studies["preliminary"] = prelim.study
    final = case_with_clock(hospital_a, now, arrived_min=200, due_in_min=60)
    final_report = signed_report(final, radiologist, signed_at=now - dt.timedelta(minutes=30))
    failed_delivery(final_report)
    Case.objects.filter(pk=final.pk).update(state="signed", signed_at=now)
    studies["final"] = final.study
    amended = case_with_clock(hospital_a, now, arrived_min=900, due_in_min=60)
    signed_report(amended, radiologist, signed_at=now - dt.timedelta(hours=10))
    signed_report(amended, radiologist, signed_at=now - dt.timedelta(hours=1), kind="addendum")
    Case.objects.filter(pk=amended.pk).update(state="signed", signed_at=now)
    studies["amended"] = amended.study
    other = case_with_clock(
        hospital_b, now, arrived_min=10, due_in_min=60, patient_name="Wang^Li", patient_id="P-BETA"
    )
    signed_report(other, radiologist, signed_at=now - dt.timedelta(minutes=1))
    studies["beta"] = other.study
    return studies
