from __future__ import annotations

from readingcenter.delivery.models import Delivery
from simulator.hospital_systems import FhirServer
from tests.conftest import api_as
from tests.outbox.conftest import drain_all, fhir_endpoint, sign_new_report


def test_a_refused_report_fails_at_once_and_a_manager_sends_it_again(
    hospital_a, radiologist, manager, hospital_user_a
):
    answers = iter([(400, {}, {"resourceType": "OperationOutcome"})])

    def refuse_once(method, path, headers, body):
        return next(answers, None) or FhirServer.conditional_create(server, method, path,
                                                                    headers, body)  # fmt: skip

    server = FhirServer(refuse_once)
    try:
        endpoint = fhir_endpoint(hospital_a, server)
        report = sign_new_report(hospital_a, radiologist, impression="Normal.")
        result = drain_all(endpoint)
        delivery = Delivery.objects.get(report=report)
        assert result.failed == [delivery.pk]
        assert delivery.state == "failed" and delivery.attempts == 1
        assert "400" in delivery.last_error or delivery.last_error_code
        # Only managers retry; a hospital user cannot.
        url = f"/api/v1/deliveries/{delivery.pk}/retry/"
        assert api_as(hospital_user_a).post(url).status_code == 403
        response = api_as(manager).post(url)
        assert response.status_code == 200 and response.json()["state"] == "pending"
        assert drain_all(endpoint).delivered == [delivery.pk]
        delivery.refresh_from_db()
        assert delivery.state == "delivered" and delivery.tries.count() == 2
        again = api_as(manager).post(url)
        assert again.status_code == 409 and again.json()["code"] == "not_failed"
    finally:
        server.stop()
