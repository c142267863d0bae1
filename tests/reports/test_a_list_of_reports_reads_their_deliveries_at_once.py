from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from readingcenter.delivery.models import Channel, DeliveryEndpoint
from tests.conftest import api_as
from tests.outbox.conftest import sign_new_report


def _count(client) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as queries:
        body = client.get("/api/v1/reports/").json()
    return len(queries.captured_queries), body


def test_the_report_list_costs_the_same_for_three_reports_as_for_one(
    hospital_a, radiologist, hospital_user_a, templates
):
    for channel, name in ((Channel.HL7, "engine"), (Channel.FHIR, "fhir")):
        DeliveryEndpoint.objects.create(
            hospital=hospital_a,
            channel=channel,
            name=name,
            host="127.0.0.1",
            port=1,
            base_url="http://127.0.0.1:1/",
        )
    client = api_as(hospital_user_a)
    _count(client)  # the token's first use of the minute also notes "last used": not per report
    sign_new_report(hospital_a, radiologist, impression="One.")
    one, _ = _count(client)
    sign_new_report(hospital_a, radiologist, impression="Two.")
    sign_new_report(hospital_a, radiologist, impression="Three.")
    three, body = _count(client)
    assert body["count"] == 3
    assert all(len(r["deliveries"]) == 2 for r in body["results"])
    assert {d["endpoint"] for r in body["results"] for d in r["deliveries"]} == {"engine", "fhir"}
    assert three == one
