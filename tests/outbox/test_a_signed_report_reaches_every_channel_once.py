from __future__ import annotations

import hl7
import pydicom
from procrastinate.contrib.django.models import ProcrastinateJob

from readingcenter.delivery.models import Delivery
from tests.conftest import api_as
from tests.outbox.conftest import (
    drain_all,
    fhir_endpoint,
    hl7_endpoint,
    pacs_endpoint,
    sign_new_report,
)


def test_signing_queues_one_delivery_per_endpoint_and_a_drain_job_for_each(
    hospital_a, radiologist, engine, fhir
):
    endpoints = [hl7_endpoint(hospital_a, engine), fhir_endpoint(hospital_a, fhir)]
    report = sign_new_report(hospital_a, radiologist, impression="Acute subdural hematoma.")
    deliveries = Delivery.objects.filter(report=report).order_by("endpoint_id")
    assert [d.endpoint_id for d in deliveries] == [e.pk for e in endpoints]
    assert all(d.state == "pending" for d in deliveries)
    assert len({d.idempotency_key for d in deliveries}) == 2
    jobs = ProcrastinateJob.objects.filter(task_name="delivery.drain_endpoint")
    assert sorted(j.args["endpoint_id"] for j in jobs) == [e.pk for e in endpoints]
    assert {j.lock for j in jobs} == {f"delivery-endpoint-{e.pk}" for e in endpoints}


def test_each_channel_receives_the_report_once(
    orthanc, hospital_a, radiologist, engine, fhir, pacs, hospital_user_a
):
    endpoints = [
        hl7_endpoint(hospital_a, engine),
        fhir_endpoint(hospital_a, fhir),
        pacs_endpoint(hospital_a, pacs),
    ]
    report = sign_new_report(
        hospital_a,
        radiologist,
        impression="Acute subdural hematoma.",
        accession_number="A-1001",
        patient_name="Kim^Jisoo=김^지수",
    )
    for endpoint in endpoints:
        result = drain_all(endpoint)
        assert len(result.delivered) == 1, result
        # A second drain finds nothing owed.
        assert drain_all(endpoint).delivered == []
    (message,) = engine.received
    parsed = hl7.parse(message)
    assert str(parsed.segment("OBR")[3]).startswith("A-1001")
    assert str(parsed.segment("OBR")[25]) == "F"
    (request,) = fhir.requests
    assert request["headers"]["If-None-Exist"].endswith(
        Delivery.objects.get(report=report, channel="fhir").idempotency_key
    )
    received = [pydicom.dcmread(path) for path in pacs.received()]
    assert sorted(ds.Modality for ds in received) == ["DOC", "SR"]
    assert {ds.AccessionNumber for ds in received} == {"A-1001"}
    # Delivery status, per channel, as the hospital's systems read it through the API.
    seen = api_as(hospital_user_a).get(f"/api/v1/deliveries/?report={report.pk}").json()
    assert sorted((d["channel"], d["state"]) for d in seen["results"]) == [
        ("dicom", "delivered"),
        ("fhir", "delivered"),
        ("hl7", "delivered"),
    ]
    detail = api_as(hospital_user_a).get(f"/api/v1/reports/{report.pk}/").json()
    assert {d["state"] for d in detail["deliveries"]} == {"delivered"}


def test_another_hospital_sees_none_of_these_deliveries(
    hospital_a, radiologist, engine, hospital_user_b
):
    hl7_endpoint(hospital_a, engine)
    sign_new_report(hospital_a, radiologist, impression="Normal.")
    assert api_as(hospital_user_b).get("/api/v1/deliveries/").json()["count"] == 0
