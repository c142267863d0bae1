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


def test_the_hospital_changes_then_cancels_its_order_over_the_api_as_over_hl7(
    hospital_user_a, hospital_a, hospital_user_b, radiologist
):
    """The REST API does what HL7's XO and CA do, through the same services."""
    from django.db import transaction

    from readingcenter.studies.services import study_changed, study_match_order
    from readingcenter.worklist.models import Case
    from tests.factories import make_case

    client = api_as(hospital_user_a)
    order = client.post("/api/v1/orders/", {**GOOD, "priority": "routine"}, format="json").data
    case = make_case(hospital_a, accession_number="A100")
    with transaction.atomic():
        study_match_order(case.study)
        case.study.save()
        study_changed(case.study)
    url = f"/api/v1/orders/{order['id']}/"
    changed = client.patch(url, {"priority": "STAT", "clinical_history": "GCS 9"}, format="json")
    assert changed.status_code == 200, changed.data
    assert (changed.data["priority"], changed.data["clinical_history"]) == ("stat", "GCS 9")
    assert Case.objects.get(pk=case.pk).priority == "stat"
    # Another hospital's system, a radiologist: not theirs to change.
    other = api_as(hospital_user_b).post(f"/api/v1/orders/{order['id']}/cancel/",
                                         {"reason": "x"}, format="json")  # fmt: skip
    assert other.status_code == 404
    reader = api_as(radiologist).patch(f"/api/v1/orders/{order['id']}/", {"priority": "stat"},
                                       format="json")  # fmt: skip
    assert reader.status_code in (403, 404)
    no_reason = client.post(f"/api/v1/orders/{order['id']}/cancel/", {}, format="json")
    assert no_reason.status_code == 400 and "reason" in no_reason.data
    cancelled = client.post(f"/api/v1/orders/{order['id']}/cancel/",
                            {"reason": "patient transferred"}, format="json")  # fmt: skip
    assert cancelled.status_code == 200
    assert (cancelled.data["status"], cancelled.data["cancel_reason"]) == (
        "cancelled",
        "patient transferred",
    )
    case.refresh_from_db()
    assert case.state == "removed" and "patient transferred" in case.removed_reason
    again = client.patch(f"/api/v1/orders/{order['id']}/", {"priority": "routine"},
                         format="json")  # fmt: skip
    assert again.status_code == 409 and again.data["code"] == "order_cancelled"
    assert AuditEvent.objects.filter(action="order.cancel", target_id=str(order["id"])).exists()
