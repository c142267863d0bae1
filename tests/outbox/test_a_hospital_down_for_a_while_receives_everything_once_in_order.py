from __future__ import annotations

import datetime as dt

import hl7
import pydicom
from django.utils import timezone

from readingcenter.delivery.models import Delivery
from readingcenter.reports.services import report_addendum
from tests.outbox.conftest import (
    PASSWORD,
    drain_all,
    fhir_endpoint,
    hl7_endpoint,
    pacs_endpoint,
    sign_new_report,
)


def _accessions_and_status(messages: list[str]) -> list[tuple[str, str]]:
    parsed = [hl7.parse(m).segment("OBR") for m in messages]
    return [(str(obr[3]).split("^")[0], str(obr[25])) for obr in parsed]


def test_reports_signed_while_the_hospital_is_down_arrive_once_in_signing_order(
    orthanc, hospital_a, radiologist, engine, fhir, pacs, settings
):
    settings.DELIVERY_RETRY_BASE_SECONDS = 30
    endpoints = [
        hl7_endpoint(hospital_a, engine),
        fhir_endpoint(hospital_a, fhir),
        pacs_endpoint(hospital_a, pacs),
    ]
    # The hospital's link goes down.
    engine.stop()
    fhir.stop()
    pacs.stop()
    first = sign_new_report(hospital_a, radiologist, impression="First.", accession_number="A-1")
    sign_new_report(hospital_a, radiologist, impression="Second.", accession_number="A-2")
    addendum = report_addendum(report_id=first.pk, user=radiologist, password=PASSWORD,
                               text="Also a small contusion.")  # fmt: skip
    later = timezone.now()
    for _ in range(3):  # three rounds of retries while it stays down
        later += dt.timedelta(hours=1)
        for endpoint in endpoints:
            result = drain_all(endpoint, now=later)
            # The oldest waits and holds the others behind it: nothing overtakes it.
            assert result.delivered == [] and result.waiting is not None
    assert set(Delivery.objects.values_list("state", flat=True)) == {"pending"}
    waiting = Delivery.objects.filter(attempts__gt=0)
    assert {d.report_id for d in waiting} == {first.pk}
    assert {d.last_error_code for d in waiting} >= {"pacs_unreachable"}

    # Back up, on the same addresses.
    engine.start()
    fhir.start()
    pacs.start()
    later += dt.timedelta(hours=1)
    for endpoint in endpoints:
        assert len(drain_all(endpoint, now=later).delivered) == 3
        assert drain_all(endpoint, now=later + dt.timedelta(hours=1)).delivered == []

    assert _accessions_and_status(engine.received) == [("A-1", "F"), ("A-2", "F"), ("A-1", "C")]
    identifiers = [r["headers"]["If-None-Exist"] for r in fhir.requests]
    assert len(identifiers) == len(set(identifiers)) == 3
    series = {}
    for path in pacs.received():
        ds = pydicom.dcmread(path)
        series.setdefault(ds.AccessionNumber, set()).add(ds.SOPInstanceUID)
    # Two objects (SR and PDF) per version: the first study has its report and its addendum.
    assert {k: len(v) for k, v in series.items()} == {"A-1": 4, "A-2": 2}
    assert {d.state for d in Delivery.objects.all()} == {"delivered"}
    assert Delivery.objects.filter(report=addendum).count() == 3


def test_after_the_last_retry_a_delivery_is_failed_and_the_next_one_goes(
    hospital_a, radiologist, engine, settings
):
    settings.DELIVERY_MAX_ATTEMPTS = 2
    endpoint = hl7_endpoint(hospital_a, engine)
    engine.stop()
    first = sign_new_report(hospital_a, radiologist, impression="First.", accession_number="B-1")
    later = timezone.now() + dt.timedelta(hours=1)
    drain_all(endpoint, now=later)
    engine.start()
    # The engine is back, but the first delivery already used its tries on a dead link.
    second = sign_new_report(hospital_a, radiologist, impression="Second.", accession_number="B-2")
    Delivery.objects.filter(report=first).update(next_attempt_at=timezone.now())
    engine.stop()
    result = drain_all(endpoint, now=later + dt.timedelta(hours=1))
    assert result.failed == [Delivery.objects.get(report=first).pk]
    engine.start()
    result = drain_all(endpoint, now=later + dt.timedelta(hours=2))
    assert result.delivered == [Delivery.objects.get(report=second).pk]
    assert Delivery.objects.get(report=first).state == "failed"
