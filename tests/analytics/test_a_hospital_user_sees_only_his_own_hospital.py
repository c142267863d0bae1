"""A hospital user's figures are his hospital's alone, whatever he asks for; another
hospital's SLA report answers 404, as if it did not exist."""

from __future__ import annotations

import pytest

from readingcenter.analytics.selectors import Filters, sla_report, tat_breakdown
from readingcenter.errors import NotFound
from tests.analytics.conftest import MARCH, at, signed_case
from tests.conftest import api_as


@pytest.fixture
def both_hospitals(hospital_a, hospital_b, radiologist):
    signed_case(hospital_a, arrived=at(3, 1), tat=30, reader=radiologist, accession_number="A1")
    signed_case(hospital_b, arrived=at(3, 1), tat=300, target=60, reader=radiologist,
                accession_number="B-SECRET")  # fmt: skip


def test_the_selectors_count_only_his_hospital(hospital_user_a, both_hospitals):
    tat = tat_breakdown(user=hospital_user_a, period=MARCH)
    assert tat.overall.count == 1 and [r.key for r in tat.by_hospital] == ["alpha"]
    # Asking for another hospital narrows to nothing; it never widens the scope.
    other = tat_breakdown(user=hospital_user_a, period=MARCH, filters=Filters(hospital="beta"))
    assert other.overall.count == 0


def test_his_own_report_is_his_and_anothers_is_not_found(hospital_user_a, both_hospitals):
    assert sla_report(user=hospital_user_a, hospital_code="alpha", month="2026-03").count == 1
    with pytest.raises(NotFound):
        sla_report(user=hospital_user_a, hospital_code="beta", month="2026-03")


def test_pages_and_downloads_answer_404_for_another_hospital(client, hospital_user_a,
                                                             both_hospitals):  # fmt: skip
    client.force_login(hospital_user_a)
    assert client.get("/analytics/sla-report/alpha/2026-03.pdf").status_code == 200
    assert client.get("/analytics/sla-report/beta/2026-03.pdf").status_code == 404
    assert client.get("/analytics/sla-report/beta/2026-03.csv").status_code == 404
    assert client.get("/analytics/sla-report/nowhere/2026-03.csv").status_code == 404
    page = client.get("/analytics/", {"month": "2026-03"})
    assert page.status_code == 200
    assert b"Alpha Regional" in page.content and b"Beta General" not in page.content
    hospitals_csv = client.get("/analytics/hospital.csv", {"month": "2026-03"}).content.decode()
    assert "alpha" in hospitals_csv and "beta" not in hospitals_csv


def test_the_api_answers_404_for_another_hospital(hospital_user_a, both_hospitals):
    api = api_as(hospital_user_a)
    own = api.get("/api/v1/analytics/sla-report/alpha/2026-03/")
    assert own.status_code == 200 and own.json()["count"] == 1
    other = api.get("/api/v1/analytics/sla-report/beta/2026-03/")
    assert other.status_code == 404 and other.json()["code"] == "not_found"
    tat = api.get("/api/v1/analytics/tat/", {"month": "2026-03"}).json()
    assert tat["overall"]["count"] == 1
    assert [r["key"] for r in tat["by_hospital"]] == ["alpha"]


def test_a_radiologist_cannot_read_a_hospitals_sla_report(client, radiologist, both_hospitals):
    client.force_login(radiologist)
    assert client.get("/analytics/sla-report/alpha/2026-03.pdf").status_code == 404


def test_he_is_not_told_who_read_his_studies(hospital_user_a, both_hospitals):
    from readingcenter.analytics.selectors import productivity

    assert tat_breakdown(user=hospital_user_a, period=MARCH).by_radiologist == []
    assert productivity(user=hospital_user_a, period=MARCH) == []
    api = api_as(hospital_user_a)
    assert api.get("/api/v1/analytics/productivity/", {"month": "2026-03"}).json() == []
