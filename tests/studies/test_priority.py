"""Where a study's priority comes from, and who may change it."""

from __future__ import annotations

import pytest

from readingcenter.audit.models import AuditEvent
from readingcenter.studies.services import order_create, study_priority_refresh
from tests.conftest import api_as
from tests.factories import make_study


def _refreshed(study):
    """What ingest does on each sync: re-read the row, apply the automatic signals, save."""
    study.refresh_from_db()
    study_priority_refresh(study, actor_label="system:ingest")
    study.save()
    study.refresh_from_db()
    return study


@pytest.mark.parametrize(
    ("fields", "priority", "reason_part"),
    [
        ({"study_description": "CT HEAD CODE STROKE"}, "stat", "CODE STROKE"),
        ({"study_description": "CT C-SPINE TRAUMA"}, "stat", "TRAUMA"),
        ({"requested_procedure_description": "CT head STAT"}, "stat", "STAT"),
        ({"study_description": "XR CHEST URGENT"}, "urgent", "URGENT"),
        (
            {"requested_procedure_priority": "HIGH"},
            "stat",
            "request from the scanner marks it HIGH",
        ),
        ({"patient_location": "ED"}, "urgent", "emergency department"),
        ({"patient_location": "응급의학과"}, "urgent", "emergency department"),
        ({"patient_location": "急诊科"}, "urgent", "emergency department"),
    ],
)
def test_header_signals_raise_the_priority_and_say_why(hospital_a, fields, priority, reason_part):
    study = _refreshed(make_study(hospital_a, **fields))
    assert study.priority == priority
    assert reason_part in study.priority_reason
    event = study.events.get(kind="priority_changed")
    assert (event.detail["old"], event.detail["new"]) == ("routine", priority)


@pytest.mark.parametrize("text", ["CT HEAD STATUS POST CRANIOTOMY", "MR BRAIN ROUTINE", "ESTATE"])
def test_words_that_only_look_urgent_change_nothing(hospital_a, text):
    study = _refreshed(make_study(hospital_a, study_description=text, patient_location="WARD 7"))
    assert study.priority == "routine"
    assert not study.events.filter(kind="priority_changed").exists()


def test_a_routine_header_never_lowers_a_stat_order(hospital_a, hospital_user_a):
    study = make_study(hospital_a, accession_number="P-1", requested_procedure_priority="LOW")
    order_create(hospital=hospital_a, actor=hospital_user_a, accession_number="P-1",
                 requested_procedure="CT head", priority="STAT")  # fmt: skip
    study = _refreshed(study)
    assert study.priority == "stat"
    assert "order P-1" in study.priority_reason


def test_a_radiologist_sets_the_priority_with_a_reason_and_it_stands(radiologist, hospital_a):
    study = make_study(hospital_a, study_description="CT HEAD TRAUMA")
    study = _refreshed(study)
    assert study.priority == "stat"
    response = api_as(radiologist).post(
        f"/api/v1/studies/{study.id}/priority/",
        {"priority": "routine", "reason": "old injury, follow-up scan"},
        format="json",
    )
    assert response.status_code == 200, response.data
    assert response.data["priority"] == "routine"
    assert response.data["priority_reason"] == "old injury, follow-up scan"
    # Automatic signals do not undo a person's decision.
    study = _refreshed(study)
    assert study.priority == "routine"
    assert AuditEvent.objects.filter(action="study.set_priority", actor=radiologist).exists()


def test_a_hospital_user_cannot_set_priorities_and_a_reason_is_required(
    hospital_user_a, manager, hospital_a
):
    study = make_study(hospital_a)
    url = f"/api/v1/studies/{study.id}/priority/"
    response = api_as(hospital_user_a).post(url, {"priority": "stat", "reason": "x"}, format="json")
    assert response.status_code == 403
    response = api_as(manager).post(url, {"priority": "stat"}, format="json")
    assert response.status_code == 400
    assert "reason" in response.data
    study.refresh_from_db()
    assert study.priority == "routine"
