"""Tenancy: a hospital user sees his hospital's studies, orders and reports in every portal
page, the CSV export and the API; another hospital's study answers 404, and no page, export
or answer mentions another hospital's patient."""

from __future__ import annotations

import csv
import io

from django.test import Client

from readingcenter.studies.models import Order
from tests.conftest import api_as


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_pages_and_the_export_show_only_his_hospital(journey, hospital_user_a, hospital_b):
    Order.objects.create(
        hospital=hospital_b,
        accession_number="BETA-ORD",
        requested_procedure="CT",
        patient_id="P-BETA",
    )
    Order.objects.create(
        hospital=journey["received"].hospital,
        accession_number="ALPHA-ORD",
        requested_procedure="CT HEAD",
    )
    client = _client(hospital_user_a)
    beta = journey["beta"]

    for url in (
        "/portal/",
        "/portal/?q=P-BETA",
        f"/portal/?q={beta.accession_number}",
        "/portal/orders/",
        "/portal/orders/?q=BETA-ORD",
    ):
        html = client.get(url).content.decode()
        rows = html.split("<tbody>")[1] if "<tbody>" in html else ""
        assert "Wang" not in html and "P-BETA" not in rows and "BETA-ORD" not in rows, url
        assert f'data-study="{beta.pk}"' not in html, url
    assert "ALPHA-ORD" in client.get("/portal/orders/").content.decode()

    response = client.get("/portal/studies.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {r["accession_number"] for r in rows} == {
        s.accession_number for n, s in journey.items() if n != "beta"
    }


def test_the_api_lists_only_his_hospital_and_answers_404_for_another(
    journey, hospital_user_a, hospital_user_b
):
    api = api_as(hospital_user_a)
    ids = {s["id"] for s in api.get("/api/v1/portal/studies/").json()["results"]}
    assert journey["beta"].pk not in ids and journey["final"].pk in ids
    assert api.get(f"/api/v1/portal/studies/{journey['beta'].pk}/").status_code == 404
    assert api.get("/api/v1/portal/studies/999999/").status_code == 404
    assert api.get(f"/api/v1/portal/studies/{journey['final'].pk}/").status_code == 200
    # And the other way round.
    other = api_as(hospital_user_b)
    assert other.get(f"/api/v1/portal/studies/{journey['final'].pk}/").status_code == 404
    assert {s["id"] for s in other.get("/api/v1/portal/studies/").json()["results"]} == {
        journey["beta"].pk
    }


def test_the_study_and_report_pages_it_links_to_answer_404_for_another_hospital(
    journey, hospital_user_a
):
    client = _client(hospital_user_a)
    beta = journey["beta"]
    report = beta.reports.get()
    assert client.get(f"/studies/{beta.pk}/").status_code == 404
    assert client.get(f"/reports/{report.pk}/").status_code == 404
    assert client.get(f"/reports/{report.pk}/pdf/").status_code == 404


def test_only_hospital_users_open_the_portal(manager, radiologist, hospital_user_a):
    for user in (manager, radiologist):
        client = _client(user)
        for url in ("/portal/", "/portal/orders/", "/portal/studies.csv"):
            assert client.get(url).status_code == 403, (user, url)
        assert api_as(user).get("/api/v1/portal/studies/").status_code == 403
    assert Client().get("/portal/").status_code == 302
