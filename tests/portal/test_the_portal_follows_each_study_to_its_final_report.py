"""The hospital's list: each study's status from arrival to amended report, its deadline and
time left while it is being read, its reports (page and PDF) and their deliveries."""

from __future__ import annotations

import re

from django.test import Client

from tests.conftest import api_as


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _statuses(html: str) -> dict[int, str]:
    rows = re.findall(r'<tr data-study="(\d+)".*?data-status="(\w+)"', html, re.S)
    return {int(pk): status for pk, status in rows}


def test_each_study_shows_where_it_is_on_its_way(journey, hospital_user_a):
    html = _client(hospital_user_a).get("/portal/").content.decode()

    expected = {s.pk: name for name, s in journey.items() if name != "beta"}
    assert _statuses(html) == expected


def test_the_reports_open_as_pages_and_pdfs_and_say_where_they_were_delivered(
    journey, hospital_user_a
):
    html = _client(hospital_user_a).get("/portal/").content.decode()

    amended = journey["amended"]
    row = re.search(rf'<tr data-study="{amended.pk}".*?</tr>', html, re.S).group(0)
    report_ids = [int(i) for i in re.findall(r'data-report="(\d+)"', row)]
    assert len(report_ids) == 2
    for pk in report_ids:
        assert f'href="/reports/{pk}/"' in row and f'href="/reports/{pk}/pdf/"' in row
    final_row = re.search(rf'<tr data-study="{journey["final"].pk}".*?</tr>', html, re.S).group(0)
    assert "HL7" in final_row and "Failed" in final_row


def test_a_case_being_read_shows_its_deadline_and_time_left(journey, hospital_user_a):
    html = _client(hospital_user_a).get("/portal/").content.decode()

    late = re.search(rf'<tr data-study="{journey["complete"].pk}".*?</tr>', html, re.S).group(0)
    assert re.search(r'class="clock breached">\d+ min over', late)
    reading = re.search(rf'<tr data-study="{journey["in_reading"].pk}".*?</tr>', html, re.S)
    assert re.search(r'class="clock (ok|at_risk)">\d+ min left', reading.group(0))


def test_the_api_gives_status_deadline_reports_and_deliveries(journey, hospital_user_a):
    body = api_as(hospital_user_a).get("/api/v1/portal/studies/").json()

    by_id = {s["id"]: s for s in body["results"]}
    assert {s["status"] for s in by_id.values()} == {
        "received",
        "complete",
        "in_reading",
        "preliminary",
        "final",
        "amended",
    }
    complete = by_id[journey["complete"].pk]
    assert complete["sla_status"] == "breached" and complete["seconds_left"] < 0
    assert complete["deadline"] is not None
    final = by_id[journey["final"].pk]
    assert final["deadline"] is None  # a signed case keeps no clock
    (report,) = final["reports"]
    assert report["status"] == "final" and report["pdf_url"].endswith(
        f"/reports/{report['id']}/pdf/"
    )
    assert [(d["channel"], d["state"]) for d in report["deliveries"]] == [("hl7", "failed")]
    amended = by_id[journey["amended"].pk]
    assert [r["status"] for r in amended["reports"]] == ["final", "amended"]
