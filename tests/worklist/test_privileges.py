"""A radiologist sees and claims only cases of hospitals where his privilege is valid today."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from readingcenter.accounts.models import Privilege
from readingcenter.errors import NotFound
from readingcenter.worklist import services
from tests.conftest import api_as, grant
from tests.factories import make_case

pytestmark = pytest.mark.django_db


def test_a_radiologist_without_privileges_at_a_hospital_gets_404_on_its_case(
    hospital_a, hospital_b, radiologist_b_only
):
    case_a = make_case(hospital_a)
    case_b = make_case(hospital_b)
    api = api_as(radiologist_b_only)
    assert api.get(f"/api/v1/worklist/{case_a.pk}/").status_code == 404
    assert api.post(f"/api/v1/worklist/{case_a.pk}/claim/").status_code == 404
    assert api.get(f"/api/v1/studies/{case_a.study_id}/").status_code == 404
    assert api.get(f"/api/v1/worklist/{case_b.pk}/").status_code == 200
    listed = [row["id"] for row in api.get("/api/v1/worklist/").json()["results"]]
    assert listed == [case_b.pk]

    page = Client()
    page.force_login(radiologist_b_only)
    assert page.get(f"/cases/{case_a.pk}/").status_code == 404
    assert page.get(f"/cases/{case_a.pk}/viewer/").status_code == 404
    assert page.post(f"/cases/{case_a.pk}/claim/").status_code == 404


def test_an_expired_licence_removes_access(hospital_a, hospital_b, radiologist_unprivileged):
    today = timezone.now().date()
    privilege = grant(radiologist_unprivileged, hospital_a, valid_until=today)
    case = make_case(hospital_a)
    api = api_as(radiologist_unprivileged)
    assert api.get(f"/api/v1/worklist/{case.pk}/").status_code == 200  # valid through today

    Privilege.objects.filter(pk=privilege.pk).update(valid_until=today - dt.timedelta(days=1))
    assert api.get(f"/api/v1/worklist/{case.pk}/").status_code == 404
    assert api.get("/api/v1/worklist/").json()["results"] == []
    with pytest.raises(NotFound):
        services.case_claim(case_id=case.pk, user=radiologist_unprivileged)


def test_a_privilege_not_yet_valid_or_revoked_grants_nothing(hospital_a, radiologist_unprivileged):
    today = timezone.now().date()
    privilege = grant(radiologist_unprivileged, hospital_a, valid_from=today + dt.timedelta(days=3))
    case = make_case(hospital_a)
    api = api_as(radiologist_unprivileged)
    assert api.get(f"/api/v1/worklist/{case.pk}/").status_code == 404
    Privilege.objects.filter(pk=privilege.pk).update(
        valid_from=today - dt.timedelta(days=3), revoked_at=timezone.now()
    )
    assert api.get(f"/api/v1/worklist/{case.pk}/").status_code == 404


def test_a_hospital_user_has_no_worklist(hospital_a, hospital_user_a):
    case = make_case(hospital_a)
    api = api_as(hospital_user_a)
    assert api.get("/api/v1/worklist/").json()["results"] == []
    assert api.get(f"/api/v1/worklist/{case.pk}/").status_code == 404
    assert api.post(f"/api/v1/worklist/{case.pk}/claim/").status_code == 403


def test_a_manager_sees_every_hospital_but_does_not_claim(hospital_a, hospital_b, manager):
    make_case(hospital_a)
    make_case(hospital_b)
    api = api_as(manager)
    assert len(api.get("/api/v1/worklist/").json()["results"]) == 2
    case = make_case(hospital_a)
    response = api.post(f"/api/v1/worklist/{case.pk}/claim/")
    assert response.status_code == 403 and response.json()["code"] == "not_a_radiologist"
