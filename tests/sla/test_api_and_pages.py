"""Managers configure tiers, calendars and clocks over the API; readers see their own
notifications only; the case partial shows each step; the schema builds."""

from __future__ import annotations

import datetime as dt

import pytest
from django.template.loader import render_to_string
from django.test import Client

from readingcenter.sla.models import EscalationTier, SlaNotification
from readingcenter.sla.selectors import escalations_for_case
from readingcenter.sla.services import sla_escalate
from tests.conftest import api_as
from tests.sla.conftest import UTC, open_case, reader

pytestmark = pytest.mark.django_db
START = dt.datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


def test_a_manager_creates_changes_and_removes_a_tier(manager, hospital_a):
    api = api_as(manager)
    made = api.post(
        "/api/v1/sla/escalation-tiers/",
        {"hospital": "alpha", "trigger": "percent", "percent_used": 90, "action": "widen_pool",
         "position": 2, "priority": "stat"},
        format="json",
    )  # fmt: skip
    assert made.status_code == 201, made.json()
    assert made.json()["hospital"] == "alpha" and made.json()["percent_used"] == 90
    pk = made.json()["id"]
    changed = api.patch(
        f"/api/v1/sla/escalation-tiers/{pk}/", {"trigger": "breached"}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["percent_used"] is None
    assert api.get("/api/v1/sla/escalation-tiers/").json()[0]["id"] == pk
    gone = api.delete(f"/api/v1/sla/escalation-tiers/{pk}/")
    assert gone.json() == {"deleted": True, "is_active": False}
    assert not EscalationTier.objects.exists()


def test_a_percent_tier_needs_its_share(manager):
    refused = api_as(manager).post(
        "/api/v1/sla/escalation-tiers/", {"trigger": "percent", "action": "alert_manager"},
        format="json",
    )  # fmt: skip
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_percent_used"


def test_a_tier_that_took_steps_is_switched_off_not_deleted(manager, hospital_a):
    tier = EscalationTier.objects.create(trigger="breached", action="alert_manager")
    open_case(hospital_a, completed_at=START, priority="urgent")
    sla_escalate(now=START + dt.timedelta(hours=3))
    gone = api_as(manager).delete(f"/api/v1/sla/escalation-tiers/{tier.pk}/")
    assert gone.json() == {"deleted": False, "is_active": False}
    tier.refresh_from_db()
    assert tier.is_active is False


def test_only_managers_configure_escalation(radiologist, hospital_user_a):
    for user in (radiologist, hospital_user_a):
        api = api_as(user)
        assert api.get("/api/v1/sla/escalation-tiers/").status_code == 403
        tier = {"trigger": "breached", "action": "alert_manager"}
        post = api.post("/api/v1/sla/escalation-tiers/", tier, format="json")
        assert post.status_code == 403


def test_a_manager_sets_business_hours_a_holiday_and_a_business_hours_promise(manager, hospital_a):
    api = api_as(manager)
    hours = [{"weekday": d, "opens_at": "09:00", "closes_at": "18:00"} for d in range(5)]
    put = api.put("/api/v1/sla/calendars/alpha/", {"hours": hours}, format="json")
    assert put.status_code == 200 and put.json()["time_zone"] == "Asia/Seoul"
    assert len(put.json()["hours"]) == 5
    closed = api.post(
        "/api/v1/sla/calendars/alpha/closed-dates/", {"date": "2026-09-25", "reason": "Chuseok"},
        format="json",
    )  # fmt: skip
    assert closed.status_code == 201
    policy = api.post(
        "/api/v1/sla-policies/",
        {"hospital": "alpha", "priority": "routine", "target_minutes": 540,
         "calendar": "business_hours", "clock_end": "final"},
        format="json",
    )  # fmt: skip
    assert policy.status_code == 201 and policy.json()["calendar"] == "business_hours"
    # A Thursday 17:00 Seoul arrival; Friday the 25th closed: due Monday 17:00 Seoul.
    case = open_case(hospital_a, completed_at=dt.datetime(2026, 9, 24, 8, 0, tzinfo=UTC))
    assert case.due_at == dt.datetime(2026, 9, 28, 8, 0, tzinfo=UTC)
    assert (
        api.delete("/api/v1/sla/calendars/alpha/closed-dates/?date=2026-09-25").status_code == 204
    )


def test_a_hospital_user_reads_only_its_own_calendar(hospital_user_a, hospital_b):
    api = api_as(hospital_user_a)
    assert api.get("/api/v1/sla/calendars/alpha/").status_code == 200
    assert api.get("/api/v1/sla/calendars/beta/").status_code == 404
    assert api.put("/api/v1/sla/calendars/alpha/", {"hours": []}, format="json").status_code == 403


def test_readers_see_their_own_notifications_and_mark_them_read(hospital_a):
    EscalationTier.objects.create(trigger="breached", action="notify_on_duty")
    told = reader("dr.on", hospital_a)
    other = reader("dr.other", hospital_a, modalities=["MR"])
    case = open_case(hospital_a, completed_at=START, priority="urgent")
    sla_escalate(now=START + dt.timedelta(hours=3))
    mine = api_as(told).get("/api/v1/sla/notifications/?unread=true").json()["results"]
    assert [n["case"] for n in mine] == [case.pk]
    assert api_as(other).get("/api/v1/sla/notifications/").json()["results"] == []
    # Someone else's id marks nothing.
    assert api_as(other).post("/api/v1/sla/notifications/read/", {"ids": [mine[0]["id"]]},
                              format="json").json() == {"marked": 0}  # fmt: skip
    assert api_as(told).post("/api/v1/sla/notifications/read/", {}, format="json").json() == {
        "marked": 1
    }
    assert SlaNotification.objects.get(pk=mine[0]["id"]).read_at is not None
    page = Client()
    page.force_login(told)
    assert case.study.accession_number in page.get("/sla/notifications/").content.decode()


def test_the_escalation_record_is_for_the_case_hospitals_readers_and_managers(
    hospital_a, manager, radiologist_b_only
):
    EscalationTier.objects.create(trigger="breached", action="alert_manager")
    case = open_case(hospital_a, completed_at=START, priority="urgent")
    sla_escalate(now=START + dt.timedelta(hours=3))
    assert (
        len(api_as(manager).get(f"/api/v1/sla/escalations/?case={case.pk}").json()["results"]) == 1
    )
    assert api_as(radiologist_b_only).get("/api/v1/sla/escalations/").json()["results"] == []
    page = Client()
    page.force_login(manager)
    assert "alert the managers" in page.get("/sla/escalation/").content.decode().lower()


def test_the_case_partial_lists_each_step_and_who_was_told(hospital_a, manager):
    EscalationTier.objects.create(name="Breached: managers", trigger="breached",
                                  action="alert_manager")  # fmt: skip
    case = open_case(hospital_a, completed_at=START, priority="urgent")
    empty = render_to_string("sla/_case_escalations.html", {"escalations": []})
    assert "No escalation" in empty
    sla_escalate(now=START + dt.timedelta(hours=3))
    html = render_to_string(
        "sla/_case_escalations.html", {"escalations": escalations_for_case(case=case)}
    )
    assert "Breached: managers" in html and "mgr" in html and "Done" in html


def test_the_schema_builds_with_the_sla_endpoints(manager):
    response = api_as(manager).get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/v1/sla/escalation-tiers/" in response.content
