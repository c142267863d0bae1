"""The worklist's API and pages, as a radiologist and a manager use them."""

from __future__ import annotations

import pytest
from django.test import Client

from readingcenter.audit.models import AuditEvent
from tests.conftest import api_as
from tests.factories import make_case

pytestmark = pytest.mark.django_db


def test_next_case_claims_the_first_case_in_reading_order_and_says_when_there_is_none(
    hospital_a, radiologist
):
    routine = make_case(hospital_a, completed_minutes_ago=90)
    stat = make_case(hospital_a, priority="stat", completed_minutes_ago=1)
    api = api_as(radiologist)
    first = api.post("/api/v1/worklist/next/")
    assert first.status_code == 200 and first.json()["id"] == stat.pk
    assert first.json()["claimed_by"]["username"] == "dr.who"
    # Leaving the STAT case, he gets the next one; leaving that, his STAT claim again.
    assert api.post("/api/v1/worklist/next/", {"after": stat.pk}).json()["id"] == routine.pk
    assert api.post("/api/v1/worklist/next/", {"after": routine.pk}).json()["id"] == stat.pk
    for case in (stat, routine):
        api.post(f"/api/v1/worklist/{case.pk}/release/")
        case.refresh_from_db()
        case.state = "removed"
        case.save(update_fields=["state"])
    assert api.post("/api/v1/worklist/next/").status_code == 204


def test_release_gives_the_case_back_and_only_its_reader_or_a_manager_may(
    hospital_a, radiologist, radiologist_b_only, manager
):
    from tests.conftest import grant

    grant(radiologist_b_only, hospital_a)
    case = make_case(hospital_a)
    api = api_as(radiologist)
    assert api.post(f"/api/v1/worklist/{case.pk}/claim/").json()["state"] == "claimed"
    stranger = api_as(radiologist_b_only).post(f"/api/v1/worklist/{case.pk}/release/")
    assert stranger.status_code == 409 and stranger.json()["code"] == "already_claimed"
    released = api.post(f"/api/v1/worklist/{case.pk}/release/", {"reason": "wrong body part"})
    assert released.status_code == 200 and released.json()["state"] == "unread"
    again = api.post(f"/api/v1/worklist/{case.pk}/release/")
    assert again.status_code == 409 and again.json()["code"] == "not_claimed"
    api_as(radiologist_b_only).post(f"/api/v1/worklist/{case.pk}/claim/")
    assert api_as(manager).post(f"/api/v1/worklist/{case.pk}/release/").status_code == 200
    actions = list(
        AuditEvent.objects.filter(target_id=str(case.pk), action__startswith="case.")
        .order_by("id")
        .values_list("action", "actor_label")
    )
    assert actions[-4:] == [
        ("case.claim", "dr.who"),
        ("case.release", "dr.who"),
        ("case.claim", "dr.beta"),
        ("case.release", "mgr"),
    ]


def test_the_case_detail_carries_order_priors_and_ai(hospital_a, radiologist):
    from readingcenter.studies.models import Order

    order = Order.objects.create(
        hospital=hospital_a, accession_number="DET-1", requested_procedure="CT head",
        priority="stat", clinical_history="Fall, on anticoagulants",
    )  # fmt: skip
    prior = make_case(hospital_a, patient_id="P-77", completed_minutes_ago=5000)
    case = make_case(hospital_a, patient_id="P-77", accession_number="DET-1", order=order)
    make_case(hospital_a, patient_id="P-78")
    body = api_as(radiologist).get(f"/api/v1/worklist/{case.pk}/").json()
    assert body["study_detail"]["order"]["clinical_history"] == "Fall, on anticoagulants"
    assert [p["id"] for p in body["priors"]] == [prior.study_id]
    assert body["study_detail"]["ai"]["status"] == "not_run"
    assert body["viewer_url"] == f"/cases/{case.pk}/viewer/"


def test_the_case_page_shows_a_prior_with_our_own_earlier_report(hospital_a, radiologist):
    from django.test import Client
    from django.utils import timezone

    from readingcenter.reports.models import Report

    prior = make_case(hospital_a, patient_id="P-90", completed_minutes_ago=9000)
    Report.objects.create(study=prior.study, case=prior, hospital=hospital_a, state="signed",
                          impression="Old lacunar infarct, left thalamus.",
                          signed_at=timezone.now(), signed_by=radiologist, version_number=1,
                          content_sha256="0" * 64)  # fmt: skip
    case = make_case(hospital_a, patient_id="P-90")
    client = Client()
    client.force_login(radiologist)
    page = client.get(f"/cases/{case.pk}/").content.decode()
    assert "Old lacunar infarct, left thalamus." in page


def test_the_openapi_schema_documents_the_worklist(manager):
    schema = api_as(manager).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for path in [
        "/api/v1/worklist/",
        "/api/v1/worklist/next/",
        "/api/v1/worklist/{id}/claim/",
        "/api/v1/worklist/{id}/release/",
        "/api/v1/worklist/{id}/reassign/",
        "/api/v1/assignment-decisions/",
        "/api/v1/sla-policies/",
        "/api/v1/radiologists/",
    ]:
        assert path in schema["paths"], path
    claim = schema["paths"]["/api/v1/worklist/{id}/claim/"]["post"]
    assert {"200", "404", "409"} <= set(claim["responses"])


def test_the_worklist_page_lists_claims_and_refreshes_in_part(hospital_a, radiologist):
    stat = make_case(hospital_a, priority="stat", patient_name="Kim^Minjun=金^敏俊=김^민준")
    browser = Client()
    browser.force_login(radiologist)
    page = browser.get("/worklist/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Kim, Minjun (金敏俊 · 김민준)" in html and "Next case" in html
    assert "/ws/worklist/" in html
    claimed = browser.post(f"/cases/{stat.pk}/claim/", follow=True)
    assert "the case is yours" in claimed.content.decode()
    partial = browser.get("/worklist/?partial=1&mine=true").content.decode()
    assert "<b>you</b>" in partial and "<html" not in partial


def test_next_case_button_opens_the_claimed_case(hospital_a, radiologist):
    case = make_case(hospital_a)
    browser = Client()
    browser.force_login(radiologist)
    response = browser.post("/worklist/next/")
    assert response.status_code == 302 and response["Location"] == f"/cases/{case.pk}/"
    empty = browser.post("/worklist/next/", {"after": case.pk}, follow=True)
    assert "Nothing to read right now" in empty.content.decode()


def test_the_manager_sees_who_reads_what(hospital_a, radiologist, manager):
    case = make_case(hospital_a)
    api_as(radiologist).post(f"/api/v1/worklist/{case.pk}/claim/")
    browser = Client()
    browser.force_login(manager)
    html = browser.get("/worklist/assignments/").content.decode()
    assert "dr.who" in html and "Claims now" in html
    readers = api_as(manager).get("/api/v1/radiologists/").json()
    me = next(r for r in readers if r["username"] == "dr.who")
    assert me["open_cases"] == 1 and {p["hospital"] for p in me["privileges"]} == {"alpha", "beta"}
    outsider = Client()
    outsider.force_login(radiologist)
    assert outsider.get("/worklist/assignments/").status_code == 403


def test_a_hospital_user_is_sent_to_its_portal_not_the_worklist(hospital_user_a):
    browser = Client()
    browser.force_login(hospital_user_a)
    assert browser.get("/")["Location"] == "/portal/"
    assert browser.get("/worklist/").status_code == 403


def test_the_fast_row_serialiser_agrees_with_the_declared_fields(hospital_a, radiologist):
    from django.utils import timezone

    from readingcenter.worklist.api import CaseSerializer
    from readingcenter.worklist.selectors import worklist

    claimed = make_case(hospital_a, patient_birth_date="1950-02-03", study_date="2026-11-20")
    make_case(hospital_a)
    api_as(radiologist).post(f"/api/v1/worklist/{claimed.pk}/claim/")
    now = timezone.now()
    for case in worklist(user=radiologist):
        serializer = CaseSerializer(case, context={"now": now})
        assert serializer.to_representation(case) == serializer.generic_representation(case)
