"""The dashboard draws its charts as inline SVG (no script fetched from anywhere), and the API
answers the same figures as JSON, described in the OpenAPI schema."""

from __future__ import annotations

import re

from tests.analytics.conftest import at, signed_case
from tests.conftest import api_as


def test_the_dashboard_draws_svg_charts_and_no_external_script(client, manager, hospital_a,
                                                               radiologist):  # fmt: skip
    signed_case(hospital_a, arrived=at(3, 1), tat=30, reader=radiologist)
    client.force_login(manager)
    response = client.get("/analytics/", {"from": "2026-03-01", "to": "2026-03-31"})
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("<svg") >= 6
    assert "Alpha Regional" in html and "dr.who" in html
    # Only our own scripts (the keyboard shortcuts), nothing from elsewhere.
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert all(src.startswith("/static/") for src in scripts), scripts
    assert "cdn" not in html.lower()
    assert "/analytics/sla-report/alpha/" in html


def test_the_dashboard_escapes_names_inside_the_svg(client, manager, hospital_a, radiologist):
    hospital_a.name = "<script>alert(1)</script>"
    hospital_a.save()
    signed_case(hospital_a, arrived=at(3, 1), tat=30, reader=radiologist)
    client.force_login(manager)
    html = client.get("/analytics/", {"month": "2026-03"}).content.decode()
    assert "<script>alert(1)</script>" not in html


def test_bad_input_is_a_400_with_a_code(manager):
    api = api_as(manager)
    response = api.get("/api/v1/analytics/tat/", {"from": "March"})
    assert response.status_code == 400 and response.json()["code"] == "invalid"
    response = api.get("/api/v1/analytics/tat/", {"month": "2026-03", "tz": "Mars/Olympus"})
    assert response.json()["code"] == "time_zone_invalid"


def test_the_api_returns_every_figure_set(manager, hospital_a, radiologist):
    signed_case(hospital_a, arrived=at(3, 1), tat=30, reader=radiologist, preliminary=10)
    api = api_as(manager)
    query = {"month": "2026-03"}
    tat = api.get("/api/v1/analytics/tat/", query).json()
    assert tat["overall"]["final_p50"] == 30.0 and tat["overall"]["preliminary_p50"] == 10.0
    assert tat["hour_zone"] == "hospital" and len(tat["by_hour"]) == 24
    overview = api.get("/api/v1/analytics/overview/", query).json()
    assert overview["signed"] == 1 and overview["compliance"] == 1.0
    [reader] = api.get("/api/v1/analytics/productivity/", query).json()
    assert reader["username"] == "dr.who" and reader["reads"] == 1
    ai = api.get("/api/v1/analytics/ai-performance/", query).json()
    assert ai == {"rows": [], "critical_reports": 0, "critical_without_ai": 0}


def test_anonymous_callers_get_401(db):
    assert api_as(None).get("/api/v1/analytics/tat/").status_code == 401


def test_the_schema_documents_the_analytics_endpoints(manager):
    schema = api_as(manager).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for path in ("tat/", "overview/", "productivity/", "ai-performance/",
                 "sla-report/{code}/{month}/"):  # fmt: skip
        assert f"/api/v1/analytics/{path}" in schema["paths"]
    components = schema["components"]["schemas"]
    assert "final_p95" in components["AnalyticsTatRow"]["properties"]
    assert "minutes_late" in components["AnalyticsBreach"]["properties"]


def test_a_radiologist_sees_his_own_reads_only(client, hospital_a, radiologist,
                                               radiologist_b_only):  # fmt: skip
    signed_case(hospital_a, arrived=at(3, 1), tat=30, reader=radiologist)
    signed_case(hospital_a, arrived=at(3, 2), tat=30, reader=radiologist_b_only)
    client.force_login(radiologist)
    html = client.get("/analytics/", {"month": "2026-03"}).content.decode()
    assert "dr.who" in html and "dr.beta" not in html
    assert "Monthly SLA reports" not in html
    [row] = api_as(radiologist).get("/api/v1/analytics/productivity/", {"month": "2026-03"}).json()
    assert row["username"] == "dr.who" and row["reads"] == 1
