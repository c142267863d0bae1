"""Acknowledging a critical result records who at the hospital received it, his role, and the
read-back; on the page and by phone the read-back is required."""

from __future__ import annotations

import pytest
from django.test import Client

from readingcenter.audit.models import AuditEvent
from readingcenter.critical.services import critical_result_acknowledge
from readingcenter.errors import DomainError
from tests.conftest import api_as
from tests.critical.conftest import BLEED, sign_with_findings

pytestmark = pytest.mark.django_db


@pytest.fixture
def bleed(hospital_a, radiologist):
    _report, [result] = sign_with_findings(hospital_a, radiologist, [BLEED])
    return result


def test_the_page_refuses_an_acknowledgement_without_the_read_back(bleed, hospital_user_a):
    client = Client()
    client.force_login(hospital_user_a)
    response = client.post(
        f"/critical-results/{bleed.pk}/acknowledge/", {"name": "Dr Lee"}, follow=True
    )
    assert "read the finding back" in response.content.decode()
    bleed.refresh_from_db()
    assert bleed.state == "open"


def test_the_page_records_the_receiver_his_role_and_the_read_back(bleed, hospital_user_a):
    client = Client()
    client.force_login(hospital_user_a)
    client.post(
        f"/critical-results/{bleed.pk}/acknowledge/",
        {"name": "Dr Lee Minho", "role": "ED attending", "read_back": "yes"},
    )
    bleed.refresh_from_db()
    assert bleed.state == "acknowledged"
    assert (bleed.acknowledged_by_name, bleed.acknowledged_by_role, bleed.read_back) == (
        "Dr Lee Minho", "ED attending", True
    )  # fmt: skip
    assert bleed.acknowledged_by == hospital_user_a
    event = AuditEvent.objects.get(action="critical_result.acknowledge")
    assert event.detail["role"] == "ED attending" and event.detail["read_back"] is True
    page = client.get(f"/critical-results/{bleed.pk}/").content.decode()
    assert "Dr Lee Minho (ED attending)" in page and "read back and confirmed" in page


def test_a_phone_acknowledgement_needs_the_read_back_too(bleed, manager):
    with pytest.raises(DomainError) as refused:
        critical_result_acknowledge(critical_result_id=bleed.pk, user=manager, via="phone",
                                    name="Dr Lee, ED")  # fmt: skip
    assert (refused.value.code, refused.value.field) == ("read_back_required", "read_back")


def test_a_hospital_system_says_whether_the_finding_was_read_back(bleed, hospital_user_a):
    response = api_as(hospital_user_a).post(
        f"/api/v1/critical-results/{bleed.pk}/acknowledge/",
        {"name": "Dr Lee", "role": "ED attending", "read_back": True},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["acknowledged_by_role"], body["read_back"]) == ("ED attending", True)


def test_a_hospital_system_that_says_nothing_is_recorded_as_such(bleed, hospital_user_a):
    body = (
        api_as(hospital_user_a)
        .post(f"/api/v1/critical-results/{bleed.pk}/acknowledge/", {}, format="json")
        .json()
    )
    assert body["state"] == "acknowledged" and body["read_back"] is None
