"""Reading order: priority (AI escalation included), then SLA deadline, AI score, arrival."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from readingcenter.sla.services import sla_policy_set
from readingcenter.studies.services import study_changed
from readingcenter.worklist.models import Case
from tests.conftest import api_as
from tests.factories import make_case

pytestmark = pytest.mark.django_db


def _order(user, **params):
    response = api_as(user).get("/api/v1/worklist/", params)
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_an_ai_escalated_case_goes_ahead_of_older_routine_ones(hospital_a, radiologist):
    old = [make_case(hospital_a, completed_minutes_ago=300 - i) for i in range(3)]
    newest = make_case(hospital_a, completed_minutes_ago=1)
    assert _order(radiologist)[0] == old[0].pk

    # The AI flags the newest study: triage raises its priority the way triage_run_record does.
    study = newest.study
    study.priority, study.priority_reason = "stat", "AI head-ct-ich: intracranial haemorrhage"
    study.save()
    study_changed(study)
    newest.refresh_from_db()
    assert newest.priority == "stat"
    assert _order(radiologist) == [newest.pk, *(c.pk for c in old)]


def test_within_a_priority_the_earlier_deadline_then_the_higher_ai_score_comes_first(
    hospital_a, hospital_b, radiologist, manager
):
    # Beta promised routine reads in 4 hours, Alpha the default 24 hours.
    sla_policy_set(hospital=hospital_b, priority="routine", target_minutes=240, actor=manager)
    alpha = make_case(hospital_a, completed_minutes_ago=60)
    beta = make_case(hospital_b, completed_minutes_ago=10)
    same_deadline = make_case(hospital_a, completed_minutes_ago=60)
    Case.objects.filter(pk=same_deadline.pk).update(due_at=alpha.due_at, ai_score=0.4)
    assert _order(radiologist) == [beta.pk, same_deadline.pk, alpha.pk]


def test_the_deadline_comes_from_the_hospitals_policy_and_moves_with_it(
    hospital_a, radiologist, manager
):
    case = make_case(hospital_a, priority="stat", completed_minutes_ago=10)
    assert case.due_at == case.arrived_at + dt.timedelta(minutes=30)  # the default STAT promise
    row = api_as(radiologist).get(f"/api/v1/worklist/{case.pk}/").json()
    assert row["sla_status"] == "ok"  # 10 of 30 minutes used
    response = api_as(manager).post(
        "/api/v1/sla-policies/",
        {"hospital": "alpha", "priority": "STAT", "target_minutes": 15, "at_risk_percent": 50},
        format="json",
    )
    assert response.status_code == 201, response.content
    case.refresh_from_db()
    assert case.due_at == case.arrived_at + dt.timedelta(minutes=15)
    row = api_as(radiologist).get(f"/api/v1/worklist/{case.pk}/").json()
    assert row["sla_status"] == "at_risk" and 0 < row["seconds_left"] <= 300  # 10 of 15 min
    case = make_case(hospital_a, priority="stat", completed_minutes_ago=16)
    row = api_as(radiologist).get(f"/api/v1/worklist/{case.pk}/").json()
    assert row["sla_status"] == "breached" and row["seconds_left"] < 0


def test_filters_a_radiologist_expects(hospital_a, hospital_b, radiologist):
    ct = make_case(hospital_a, modalities=["CT"], body_part_examined="HEAD")
    mr = make_case(hospital_b, modalities=["MR"], body_part_examined="BRAIN")
    cr = make_case(hospital_a, modalities=["CR"], body_part_examined="CHEST", priority="urgent")
    Case.objects.filter(pk=cr.pk).update(ai_flagged=True, ai_score=0.9)
    assert _order(radiologist, modality="mr") == [mr.pk]
    assert _order(radiologist, body_part="head") == [ct.pk]
    assert _order(radiologist, hospital="beta") == [mr.pk]
    assert _order(radiologist, priority="urgent") == [cr.pk]
    assert _order(radiologist, ai="true") == [cr.pk]
    assert _order(radiologist, subspecialty="chest") == [cr.pk]
    api_as(radiologist).post(f"/api/v1/worklist/{ct.pk}/claim/")
    assert _order(radiologist, mine="true") == [ct.pk]
    assert _order(radiologist, state="claimed") == [ct.pk]
    bad = api_as(radiologist).get("/api/v1/worklist/", {"priority": "whenever"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid" and "priority" in bad.json()


def test_a_case_leaves_the_worklist_only_by_a_managers_audited_removal(
    hospital_a, radiologist, manager
):
    from readingcenter.audit.models import AuditEvent

    case = make_case(hospital_a)
    api = api_as(manager)
    refused = api.post(f"/api/v1/worklist/{case.pk}/remove/", {}, format="json")
    assert refused.status_code == 400 and "reason" in refused.json()
    assert api_as(radiologist).post(f"/api/v1/worklist/{case.pk}/remove/", {"reason": "x"},
                                    format="json").status_code == 403  # fmt: skip
    done = api.post(f"/api/v1/worklist/{case.pk}/remove/", {"reason": "duplicate"}, format="json")
    assert done.status_code == 200 and done.json()["state"] == "removed"
    assert _order(radiologist) == []
    assert AuditEvent.objects.filter(action="case.remove", target_id=str(case.pk)).exists()


def test_times_are_stored_in_utc_and_the_clock_counts_down(hospital_a, radiologist):
    case = make_case(hospital_a, priority="urgent", completed_minutes_ago=100)
    assert case.arrived_at.tzinfo is not None
    now = timezone.now()
    assert case.sla_status(now) == "at_risk"  # 100 of 120 minutes
    assert case.sla_status(now + dt.timedelta(minutes=30)) == "breached"
