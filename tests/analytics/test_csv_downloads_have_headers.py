"""Every table on the dashboard downloads as CSV with a header row naming its columns."""

from __future__ import annotations

import csv
import io

import pytest

from tests.analytics.conftest import at, final_report, signed_case

EXPECTED = {
    "overview": ["priority", "open", "oldest_arrived_at", "at_risk", "breached"],
    "hospital": ["hospital", "label", "count", "met_sla", "compliance_pct", "final_p50_min",
                 "final_p90_min", "final_p95_min", "preliminary_count",
                 "preliminary_p50_min", "preliminary_p90_min", "preliminary_p95_min"],
    "productivity": ["radiologist_id", "username", "name", "reads", "reads_with_rvu_weight",
                     "rvu", "met_sla"],
    "ai": ["model_name", "model_version", "reports", "ai_sentences", "kept", "edited",
           "removed", "confirmed_pct", "mean_similarity", "critical_studies",
           "critical_studies_unflagged", "critical_unflagged_pct"],
}  # fmt: skip


@pytest.mark.parametrize("table", ["overview", "overall", "hospital", "modality", "priority",
                                   "radiologist", "hour", "productivity", "ai"])  # fmt: skip
def test_each_table_has_its_header_row(client, manager, hospital_a, radiologist, table):
    case = signed_case(hospital_a, arrived=at(3, 1), tat=30, reader=radiologist)
    final_report(case, ai_acceptance=[{"finding": "ich", "model_name": "m", "model_version": "1",
                                       "outcome": "kept", "similarity": 1.0}])  # fmt: skip
    client.force_login(manager)
    response = client.get(f"/analytics/{table}.csv", {"month": "2026-03"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    header = rows[0]
    if table in EXPECTED:
        assert header == EXPECTED[table]
    else:
        assert header[0] == table and header[2:] == EXPECTED["hospital"][2:]
    assert len(rows) > 1
    assert all(len(row) == len(header) for row in rows)


def test_an_unknown_table_is_not_found(client, manager):
    client.force_login(manager)
    assert client.get("/analytics/patients.csv").status_code == 404


def test_a_hospital_user_gets_no_radiologist_tables(client, hospital_user_a):
    client.force_login(hospital_user_a)
    assert client.get("/analytics/productivity.csv").status_code == 404
    assert client.get("/analytics/radiologist.csv").status_code == 404
