from __future__ import annotations

import pytest

from readingcenter.audit.models import AuditEvent
from readingcenter.studies.models import Order
from tests.conftest import api_as
from tests.factories import make_study

GOOD = {
    "accession_number": "A100",
    "requested_procedure": "CT head without contrast",
    "priority": "STAT",
    "clinical_history": "Fall, on warfarin, GCS 14",
    "referring_physician": "Lee^Minho",
    "callback_phone": "+82 2 555 0100",
}


def test_a_hospital_system_posts_an_order_and_it_matches_the_study_that_came_first(
    hospital_user_a, hospital_a
):
    study = make_study(hospital_a, accession_number="A100")
    response = api_as(hospital_user_a).post("/api/v1/orders/", GOOD, format="json")
    assert response.status_code == 201, response.data
    assert response.data["priority"] == "stat"
    assert response.data["study"] == study.id
    study.refresh_from_db()
    assert study.order.accession_number == "A100"
    # The order's STAT raises the study's priority.
    assert study.priority == "stat"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"priority": "whenever"}, "priority"),
        ({"accession_number": ""}, "accession_number"),
        ({"accession_number": "X" * 17}, "accession_number"),
        ({"requested_procedure": None}, "requested_procedure"),
        ({"callback_phone": "call me maybe"}, "callback_phone"),
    ],
)
def test_a_malformed_order_gets_400_naming_the_field_and_changes_nothing(
    hospital_user_a, change, field
):
    audit_before = AuditEvent.objects.count()
    response = api_as(hospital_user_a).post("/api/v1/orders/", {**GOOD, **change}, format="json")
    assert response.status_code == 400
    assert field in response.data
    assert response.data["code"] == "invalid"
    assert Order.objects.count() == 0
    assert AuditEvent.objects.count() == audit_before


def test_a_body_that_is_not_json_gets_400(hospital_user_a):
    response = api_as(hospital_user_a).post(
        "/api/v1/orders/", "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert Order.objects.count() == 0


def test_the_same_accession_twice_is_refused_with_a_clear_code(hospital_user_a):
    client = api_as(hospital_user_a)
    assert client.post("/api/v1/orders/", GOOD, format="json").status_code == 201
    response = client.post("/api/v1/orders/", GOOD, format="json")
    assert response.status_code == 400
    assert response.data["code"] == "order_exists"
    assert Order.objects.count() == 1


def test_a_hospital_cannot_post_an_order_for_another_hospital(hospital_user_a, hospital_b):
    response = api_as(hospital_user_a).post(
        "/api/v1/orders/", {**GOOD, "hospital": "beta"}, format="json"
    )
    assert response.status_code == 400
    assert response.data["code"] == "hospital_forbidden"
    assert not Order.objects.exists()


def test_an_order_never_matches_another_hospitals_study_with_the_same_accession(
    hospital_user_a, hospital_b
):
    other = make_study(hospital_b, accession_number="A100")
    response = api_as(hospital_user_a).post("/api/v1/orders/", GOOD, format="json")
    assert response.data["study"] is None
    other.refresh_from_db()
    assert other.order is None


def test_orders_are_listed_per_hospital(hospital_user_a, hospital_user_b):
    api_as(hospital_user_a).post("/api/v1/orders/", GOOD, format="json")
    assert api_as(hospital_user_b).get("/api/v1/orders/").data["count"] == 0
    order = Order.objects.get()
    assert api_as(hospital_user_b).get(f"/api/v1/orders/{order.id}/").status_code == 404
    assert api_as(hospital_user_a).get(f"/api/v1/orders/{order.id}/").status_code == 200


def test_hl7_style_priorities_are_understood(hospital_user_a):
    response = api_as(hospital_user_a).post(
        "/api/v1/orders/", {**GOOD, "priority": "A"}, format="json"
    )
    assert response.data["priority"] == "urgent"
