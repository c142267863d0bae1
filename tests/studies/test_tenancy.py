from __future__ import annotations

from readingcenter.audit.models import AuditEvent
from tests.conftest import api_as
from tests.factories import make_study


def test_a_hospital_user_sees_only_its_own_studies(hospital_user_a, hospital_a, hospital_b):
    own = make_study(hospital_a)
    make_study(hospital_b)
    response = api_as(hospital_user_a).get("/api/v1/studies/")
    assert response.status_code == 200
    assert response.data["count"] == 1
    assert [s["id"] for s in response.data["results"]] == [own.id]
    assert response.data["results"][0]["hospital"] == {"code": "alpha", "name": "Alpha Regional"}


def test_another_hospitals_study_answers_404(hospital_user_a, hospital_b):
    foreign = make_study(hospital_b)
    response = api_as(hospital_user_a).get(f"/api/v1/studies/{foreign.id}/")
    assert response.status_code == 404
    assert response.data["code"] == "not_found"
    # The attempt is on the audit trail, as a failed read by this user.
    event = AuditEvent.objects.get(action="study.read", actor=hospital_user_a)
    assert event.outcome == "not_found"


def test_filtering_by_another_hospital_gives_nothing_rather_than_its_studies(
    hospital_user_a, hospital_b
):
    make_study(hospital_b, accession_number="B-1")
    response = api_as(hospital_user_a).get("/api/v1/studies/", {"hospital": "beta"})
    assert response.data["count"] == 0
    response = api_as(hospital_user_a).get("/api/v1/studies/", {"accession_number": "B-1"})
    assert response.data["count"] == 0


def test_a_manager_and_a_radiologist_see_every_hospital(
    manager, radiologist, hospital_a, hospital_b
):
    make_study(hospital_a)
    make_study(hospital_b)
    for user in (manager, radiologist):
        assert api_as(user).get("/api/v1/studies/").data["count"] == 2


def test_an_anonymous_caller_gets_401(db):
    response = api_as(None).get("/api/v1/studies/")
    assert response.status_code == 401


def test_the_list_filters_by_status_modality_and_accession(manager, hospital_a):
    ct = make_study(hospital_a, modalities=["CT"], accession_number="X1")
    make_study(hospital_a, modalities=["MR"], status="receiving")
    client = api_as(manager)
    assert [
        s["id"] for s in client.get("/api/v1/studies/", {"modality": "CT"}).data["results"]
    ] == [ct.id]
    assert client.get("/api/v1/studies/", {"status": "receiving"}).data["count"] == 1
    assert client.get("/api/v1/studies/", {"accession_number": "X1"}).data["count"] == 1


def test_a_bad_filter_value_is_a_400_naming_the_field(manager):
    response = api_as(manager).get("/api/v1/studies/", {"status": "lost"})
    assert response.status_code == 400
    assert "status" in response.data


def test_every_read_of_patient_data_is_audited(hospital_user_a, hospital_a):
    study = make_study(hospital_a)
    client = api_as(hospital_user_a)
    client.get("/api/v1/studies/")
    client.get(f"/api/v1/studies/{study.id}/")
    actions = list(
        AuditEvent.objects.filter(actor=hospital_user_a).values_list("action", "outcome")
    )
    assert ("study.list", "success") in actions
    assert ("study.read", "success") in actions
    read = AuditEvent.objects.get(action="study.read", actor=hospital_user_a)
    assert read.target_id == str(study.id)
    assert read.patient_id == study.patient_id
    assert read.hospital_id == hospital_a.id


def test_the_study_answer_has_the_fields_hospital_systems_rely_on(manager, hospital_a):
    study = make_study(hospital_a)
    data = api_as(manager).get(f"/api/v1/studies/{study.id}/").data
    for field in [
        "id",
        "study_instance_uid",
        "accession_number",
        "hospital",
        "patient_name",
        "modalities",
        "study_description",
        "status",
        "priority",
        "received_at",
        "completed_at",
        "series",
        "order",
    ]:
        assert field in data, field
