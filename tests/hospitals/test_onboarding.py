from __future__ import annotations

from readingcenter.audit.models import AuditEvent
from readingcenter.hospitals.models import Hospital
from readingcenter.hospitals.selectors import hospital_for_ae_title
from tests.conftest import api_as


def test_a_manager_onboards_a_hospital_and_its_ae_titles_are_recognised_at_once(manager):
    response = api_as(manager).post(
        "/api/v1/hospitals/",
        {
            "name": "Busan Coastal",
            "code": "busan",
            "ae_titles": ["BUSAN_CT", "BUSAN_MR "],
            "time_zone": "Asia/Seoul",
        },
        format="json",
    )
    assert response.status_code == 201, response.data
    assert sorted(response.data["ae_titles"]) == ["BUSAN_CT", "BUSAN_MR"]
    assert hospital_for_ae_title("BUSAN_MR").code == "busan"
    assert AuditEvent.objects.filter(action="hospital.create", actor=manager).exists()


def test_an_ae_title_already_used_by_another_hospital_is_refused(manager, hospital_a):
    response = api_as(manager).post(
        "/api/v1/hospitals/", {"name": "X", "code": "x", "ae_titles": ["ALPHA_CT"]}, format="json"
    )
    assert response.status_code == 400
    assert response.data["code"] == "ae_title_taken"
    assert not Hospital.objects.filter(code="x").exists()


def test_an_invalid_ae_title_is_a_400_naming_the_field(manager):
    response = api_as(manager).post(
        "/api/v1/hospitals/",
        {"name": "X", "code": "x", "ae_titles": ["THIS_IS_FAR_TOO_LONG_FOR_DICOM"]},
        format="json",
    )
    assert response.status_code == 400
    assert "ae_titles" in response.data


def test_hospital_users_and_radiologists_cannot_onboard_hospitals(hospital_user_a, radiologist):
    for user in (hospital_user_a, radiologist):
        response = api_as(user).post(
            "/api/v1/hospitals/", {"name": "X", "code": "x", "ae_titles": ["X1"]}, format="json"
        )
        assert response.status_code == 403


def test_a_hospital_user_sees_only_its_own_hospital(hospital_user_a, hospital_b):
    data = api_as(hospital_user_a).get("/api/v1/hospitals/").data
    assert [h["code"] for h in data["results"]] == ["alpha"]
    assert api_as(hospital_user_a).get(f"/api/v1/hospitals/{hospital_b.id}/").status_code == 404
