"""The hospital acknowledges (on the page, or its system through the API), or a manager
records a call; escalation stops; pressing again returns the first acknowledgement."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from readingcenter.audit.models import AuditEvent
from readingcenter.critical.services import (
    critical_result_acknowledge,
    critical_result_notify,
    critical_results_escalate,
)
from readingcenter.errors import DomainError
from tests.conftest import api_as
from tests.critical.conftest import BLEED, sign_with_findings

pytestmark = pytest.mark.django_db


@pytest.fixture
def bleed(hospital_a, radiologist, contacts_a, smtp):
    _report, [result] = sign_with_findings(hospital_a, radiologist, [BLEED])
    critical_result_notify(critical_result_id=result.pk)
    return result


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_hospital_user_acknowledges_on_the_page_and_escalation_stops(
    bleed, hospital_user_a, smtp
):
    response = _login(hospital_user_a).post(
        f"/critical-results/{bleed.pk}/acknowledge/",
        {"note": "patient to theatre", "next": "/critical-results/", "read_back": "yes"},
        follow=True,
    )
    assert response.status_code == 200
    assert b"escalation stopped" in response.content
    bleed.refresh_from_db()
    assert (bleed.state, bleed.ack_via, bleed.acknowledged_by) == (
        "acknowledged", "portal", hospital_user_a
    )  # fmt: skip
    assert bleed.acknowledged_by_name == "alpha.it" and bleed.note == "patient to theatre"
    assert critical_results_escalate(now=bleed.due_at + dt.timedelta(hours=3)) == []
    bleed.refresh_from_db()
    assert bleed.level == 1
    assert len(smtp.to("chief@alpha.example")) == 0
    event = AuditEvent.objects.get(action="critical_result.acknowledge")
    assert event.actor_label == "alpha.it" and event.detail["via"] == "portal"


def test_a_hospital_system_acknowledges_through_the_api_naming_who_took_it(bleed, hospital_user_a):
    response = api_as(hospital_user_a).post(
        f"/api/v1/critical-results/{bleed.pk}/acknowledge/",
        {"name": "Dr Lee, ED", "note": "CT angio ordered"},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "acknowledged" and body["acknowledged_now"] is True
    assert (body["ack_via"], body["acknowledged_by_name"]) == ("api", "Dr Lee, ED")
    assert body["acknowledged_by"]["username"] == "alpha.it"
    assert {n["channel"] for n in body["notifications"]} == {"portal", "email"}


def test_acknowledging_again_returns_the_first_acknowledgement(bleed, hospital_user_a):
    api = api_as(hospital_user_a)
    url = f"/api/v1/critical-results/{bleed.pk}/acknowledge/"
    first = api.post(url, {"name": "Dr Lee"}, format="json").json()
    second = api.post(url, {"name": "Dr Park"}, format="json")
    assert second.status_code == 200
    assert second.json()["acknowledged_now"] is False
    assert second.json()["acknowledged_by_name"] == "Dr Lee"
    assert second.json()["acknowledged_at"] == first["acknowledged_at"]
    assert AuditEvent.objects.filter(action="critical_result.acknowledge").count() == 1
    page = _login(hospital_user_a).post(f"/critical-results/{bleed.pk}/acknowledge/", follow=True)
    assert b"Already acknowledged by Dr Lee" in page.content


def test_a_manager_records_a_phone_acknowledgement_with_who_took_the_call(bleed, manager):
    api = api_as(manager)
    url = f"/api/v1/critical-results/{bleed.pk}/acknowledge/"
    no_via = api.post(url, {"name": "Dr Lee"}, format="json")
    assert no_via.status_code == 400 and no_via.json()["code"] == "phone_only"
    no_name = api.post(url, {"via": "phone"}, format="json")
    assert no_name.status_code == 400 and no_name.json()["code"] == "name_required"
    bleed.refresh_from_db()
    assert bleed.state == "open"
    page = _login(manager).post(
        f"/critical-results/{bleed.pk}/acknowledge/",
        {"name": "Dr Lee, ED, by phone", "read_back": "yes"},
        follow=True,
    )
    assert page.status_code == 200
    bleed.refresh_from_db()
    assert (bleed.state, bleed.ack_via, bleed.acknowledged_by_name, bleed.acknowledged_by) == (
        "acknowledged", "phone", "Dr Lee, ED, by phone", manager
    )  # fmt: skip


def test_a_hospital_user_cannot_claim_a_phone_call_and_a_radiologist_cannot_acknowledge(
    bleed, hospital_user_a, radiologist
):
    with pytest.raises(DomainError) as refused:
        critical_result_acknowledge(
            critical_result_id=bleed.pk, user=hospital_user_a, via="phone", name="x"
        )
    assert refused.value.code == "via_not_allowed"
    response = api_as(radiologist).post(f"/api/v1/critical-results/{bleed.pk}/acknowledge/")
    assert response.status_code == 403 and response.json()["code"] == "not_allowed"
    assert _login(radiologist).post(f"/critical-results/{bleed.pk}/acknowledge/").status_code == 403
    bleed.refresh_from_db()
    assert bleed.state == "open"


def test_an_email_still_waiting_when_the_hospital_acknowledges_is_not_sent(
    hospital_a, radiologist, contacts_a, hospital_user_a, smtp
):
    _report, [result] = sign_with_findings(hospital_a, radiologist, [BLEED])
    # The notify job has planned level 1 but not sent yet when the ED clicks.
    from readingcenter.critical.models import CriticalResult
    from readingcenter.critical.services import _plan_through

    _plan_through(CriticalResult.objects.get(pk=result.pk))
    critical_result_acknowledge(
        critical_result_id=result.pk, user=hospital_user_a, via="portal", read_back=True
    )
    critical_result_notify(critical_result_id=result.pk)
    email = result.notifications.get(channel="email")
    assert email.outcome == "cancelled" and "Acknowledged by alpha.it first" in email.detail
    assert smtp.messages == []
