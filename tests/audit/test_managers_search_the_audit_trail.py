"""The search: by user, patient, study (with its case and reports), target, action (exact or
prefix), outcome, hospital and period, newest first, in pages; the API with the same filters;
and the search itself goes on the trail."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from readingcenter.audit.models import AuditEvent
from readingcenter.audit.services import audit_record
from tests.conftest import api_as
from tests.factories import make_case


@pytest.fixture
def trail(hospital_a, hospital_b, radiologist, hospital_user_a, manager):
    case = make_case(hospital_a, patient_id="P-100")
    events = {
        "study_read": audit_record(
            actor=hospital_user_a,
            action="study.read",
            target=case.study,
            hospital=hospital_a,
            patient_id="P-100",
        ),
        "case_claim": audit_record(
            actor=radiologist,
            action="case.claim",
            target=case,
            hospital=hospital_a,
            patient_id="P-100",
        ),
        "report_sign": audit_record(
            actor=radiologist,
            action="report.sign",
            target_type="reports.report",
            target_id=999,
            hospital=hospital_a,
            patient_id="P-100",
        ),
        "denied": audit_record(
            actor=hospital_user_a,
            action="study.read",
            target_type="studies.study",
            target_id=123456,
            outcome="not_found",
        ),
        "other": audit_record(
            actor="system:delivery", action="delivery.send", hospital=hospital_b, patient_id="P-200"
        ),
    }
    return case, events


def _ids(client, query: str) -> list[int]:
    html = client.get(f"/audit/?{query}").content.decode()
    return [int(pk) for pk in re.findall(r'data-event="(\d+)"', html)]


def test_each_filter_narrows_the_trail(trail, manager, hospital_a, hospital_b):
    case, e = trail
    client = Client()
    client.force_login(manager)
    seeded = {ev.pk for ev in e.values()}

    def only(query):
        return [pk for pk in _ids(client, query) if pk in seeded]

    assert only("user=alpha.it") == [e["denied"].pk, e["study_read"].pk]  # newest first
    assert only("user=system:delivery") == [e["other"].pk]
    assert only("patient_id=P-100") == [e["report_sign"].pk, e["case_claim"].pk, e["study_read"].pk]
    # A study: the study itself and its case (reports too, by their own ids).
    assert only(f"study={case.study_id}") == [e["case_claim"].pk, e["study_read"].pk]
    assert only("target_type=reports.report&target_id=999") == [e["report_sign"].pk]
    assert only("action=case.claim") == [e["case_claim"].pk]
    assert only("action=report.*") == [e["report_sign"].pk]
    assert only("outcome=not_found") == [e["denied"].pk]
    assert only(f"hospital={hospital_b.pk}") == [e["other"].pk]
    today = timezone.localdate()
    assert len(only(f"since={today}&until={today}")) == 5
    assert only(f"until={today - dt.timedelta(days=1)}") == []
    assert only(f"since={today + dt.timedelta(days=1)}") == []


def test_the_trail_comes_in_pages_without_counting_it(trail, manager, hospital_a):
    for i in range(60):
        audit_record(actor=manager, action="page.test", target_id=i)
    client = Client()
    client.force_login(manager)

    first = _ids(client, "action=page.test")
    second = _ids(client, "action=page.test&page=2")
    assert (len(first), len(second)) == (50, 10) and not set(first) & set(second)
    html = client.get("/audit/?action=page.test").content.decode()
    assert "older →" in html and "action=page.test&page=2" in html


def test_the_api_takes_the_same_filters(trail, manager):
    _case, e = trail
    api = api_as(manager)
    body = api.get(
        "/api/v1/audit-events/", {"patient_id": "P-100", "action": "case.*", "user": "dr.who"}
    ).json()
    assert [r["id"] for r in body["results"]] == [e["case_claim"].pk]
    assert body["results"][0]["actor"] == "dr.who"
    since = (timezone.now() + dt.timedelta(minutes=1)).isoformat()
    assert api.get("/api/v1/audit-events/", {"since": since}).json()["results"] == []
    assert api.get("/api/v1/audit-events/", {"outcome": "nonsense"}).status_code == 400


def test_searching_the_trail_is_itself_audited(trail, manager):
    client = Client()
    client.force_login(manager)
    client.get("/audit/?patient_id=P-100")
    api_as(manager).get("/api/v1/audit-events/?user=dr.who")

    searches = AuditEvent.objects.filter(actor=manager, action="audit.search").order_by("id")
    assert [s.detail.get("via", "page") for s in searches] == ["page", "api"]
    assert "patient_id=P-100" in searches[0].detail["filters"]


@pytest.mark.parametrize("who", ["radiologist", "hospital_user_a"])
def test_only_managers_and_admins_search_it(request, who):
    user = request.getfixturevalue(who)
    client = Client()
    client.force_login(user)
    assert client.get("/audit/").status_code == 403
    assert client.get("/audit/export.csv").status_code == 403
    assert api_as(user).get("/api/v1/audit-events/").status_code == 403


def test_an_administrator_searches_it_too(db):
    from readingcenter.accounts.models import Role, User

    admin = User.objects.create_user(username="root", password="x", role=Role.ADMIN)
    client = Client()
    client.force_login(admin)
    assert client.get("/audit/").status_code == 200
    assert api_as(admin).get("/api/v1/audit-events/").status_code == 200


def test_each_line_names_its_hospital_and_links_its_target(trail, manager):
    case, e = trail
    client = Client()
    client.force_login(manager)
    html = client.get(f"/audit/?study={case.study_id}").content.decode()
    row = re.search(rf'<tr data-event="{e["case_claim"].pk}".*?</tr>', html, re.S).group(0)
    assert f'href="/cases/{case.pk}/"' in row and "<td>alpha</td>" in row
    row = re.search(rf'<tr data-event="{e["study_read"].pk}".*?</tr>', html, re.S).group(0)
    assert f'href="/studies/{case.study_id}/"' in row
