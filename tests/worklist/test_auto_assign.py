"""STAT auto-assignment: the eligible on-duty reader with the lowest load, and why."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from readingcenter.accounts.models import RadiologistProfile, Role, Shift, User
from readingcenter.worklist import services
from readingcenter.worklist.models import AssignmentDecision
from tests.conftest import api_as, grant
from tests.factories import make_case

pytestmark = pytest.mark.django_db


def _reader(username, hospital, *, on_duty=True, subspecialties=(), modalities=()):
    user = User.objects.create_user(username=username, password="x", role=Role.RADIOLOGIST)
    grant(user, hospital)
    RadiologistProfile.objects.create(
        user=user, subspecialties=list(subspecialties), modalities=list(modalities)
    )
    if on_duty:
        now = timezone.now()
        Shift.objects.create(
            radiologist=user,
            starts_at=now - dt.timedelta(hours=2),
            ends_at=now + dt.timedelta(hours=6),
        )
    return user


@pytest.fixture
def auto_hospital(hospital_a):
    hospital_a.auto_assign_stat = True
    hospital_a.save()
    return hospital_a


def test_a_stat_case_goes_to_the_least_loaded_eligible_reader_on_duty(auto_hospital):
    busy = _reader("neuro.busy", auto_hospital, subspecialties=["neuro"], modalities=["CT"])
    free = _reader("neuro.free", auto_hospital, subspecialties=["neuro"], modalities=["CT", "MR"])
    _reader("chest.only", auto_hospital, subspecialties=["chest"], modalities=["CT"])
    _reader("neuro.off", auto_hospital, on_duty=False, subspecialties=["neuro"])
    _reader("mr.only", auto_hospital, subspecialties=["neuro"], modalities=["MR"])
    for _ in range(2):
        services.case_claim(case_id=make_case(auto_hospital).pk, user=busy)

    case = make_case(auto_hospital, priority="stat", body_part_examined="HEAD")
    case.refresh_from_db()
    assert case.state == "claimed" and case.claimed_by == free
    decision = AssignmentDecision.objects.get(case=case, kind="auto")
    assert decision.chosen == free
    assert "lowest load (0)" in decision.rule and "neuro" in decision.rule
    why = {c["username"]: c["why"] for c in decision.candidates}
    assert why == {
        "neuro.free": "eligible",
        "neuro.busy": "eligible",
        "chest.only": "not neuro",
        "neuro.off": "off duty",
        "mr.only": "does not read CT",
    }
    assert {c["username"]: c["load"] for c in decision.candidates}["neuro.busy"] == 2


def test_with_no_subspecialist_on_duty_an_on_duty_reader_of_the_modality_takes_it(auto_hospital):
    chest = _reader("chest.reader", auto_hospital, subspecialties=["chest"], modalities=["CT"])
    case = make_case(auto_hospital, priority="stat", body_part_examined="HEAD")
    case.refresh_from_db()
    assert case.claimed_by == chest
    assert "no neuro reader on duty" in AssignmentDecision.objects.get(case=case).rule


def test_with_nobody_on_duty_the_case_waits_in_the_pool_and_the_decision_says_so(auto_hospital):
    _reader("asleep", auto_hospital, on_duty=False)
    case = make_case(auto_hospital, priority="stat")
    case.refresh_from_db()
    assert case.state == "unread"
    decision = AssignmentDecision.objects.get(case=case)
    assert decision.chosen is None and "left in the pool" in decision.rule


def test_routine_cases_and_hospitals_without_auto_assignment_are_left_alone(
    auto_hospital, hospital_b
):
    _reader("ready", auto_hospital)
    routine = make_case(auto_hospital)
    elsewhere = make_case(hospital_b, priority="stat")
    for case in (routine, elsewhere):
        case.refresh_from_db()
        assert case.state == "unread"
    assert not AssignmentDecision.objects.exists()


def test_a_case_escalated_to_stat_is_auto_assigned(auto_hospital):
    from readingcenter.studies.services import study_changed

    reader = _reader("ready", auto_hospital)
    case = make_case(auto_hospital)
    study = case.study
    study.priority = "stat"
    study.save()
    study_changed(study)
    case.refresh_from_db()
    assert case.claimed_by == reader


def test_managers_see_the_decisions_and_reassign_with_a_reason(auto_hospital, manager):
    first = _reader("first", auto_hospital)
    second = _reader("second", auto_hospital)
    case = make_case(auto_hospital, priority="stat")
    case.refresh_from_db()
    target = second if case.claimed_by == first else first
    api = api_as(manager)
    decisions = api.get("/api/v1/assignment-decisions/", {"case": case.pk}).json()["results"]
    assert decisions[0]["kind"] == "auto" and len(decisions[0]["candidates"]) == 2

    no_reason = api.post(f"/api/v1/worklist/{case.pk}/reassign/", {"to": target.pk}, format="json")
    assert no_reason.status_code == 400
    moved = api.post(f"/api/v1/worklist/{case.pk}/reassign/",
                     {"to": target.pk, "reason": "balance load"}, format="json")  # fmt: skip
    assert moved.status_code == 200 and moved.json()["claimed_by"]["id"] == target.pk
    back = api.post(f"/api/v1/worklist/{case.pk}/reassign/",
                    {"to": None, "reason": "reader went home"}, format="json")  # fmt: skip
    assert back.json()["state"] == "unread"
    kinds = [d["kind"] for d in api.get("/api/v1/assignment-decisions/").json()["results"]]
    assert kinds == ["reassign", "reassign", "auto"]
    assert api_as(first).get("/api/v1/assignment-decisions/").status_code == 403


def test_a_reader_without_privilege_there_cannot_be_given_the_case(
    auto_hospital, manager, radiologist_b_only
):
    case = make_case(auto_hospital)
    response = api_as(manager).post(f"/api/v1/worklist/{case.pk}/reassign/",
        {"to": radiologist_b_only.pk, "reason": "try"}, format="json")  # fmt: skip
    assert response.status_code == 400 and response.json()["code"] == "no_privilege"
