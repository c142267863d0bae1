"""The critical results API and pages as hospitals and managers use them, the communication
record partial the report pages include, and the OpenAPI schema."""

from __future__ import annotations

import datetime as dt

import pytest
from django.template.loader import render_to_string
from django.test import Client
from django.utils import timezone

from readingcenter.audit.models import AuditEvent
from readingcenter.critical.models import CriticalResult
from readingcenter.critical.selectors import critical_results_for_report
from readingcenter.critical.services import critical_result_acknowledge, critical_result_notify
from tests.conftest import api_as
from tests.critical.conftest import BLEED, NODULE, PNEUMOTHORAX, sign_with_findings

pytestmark = pytest.mark.django_db


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def three(hospital_a, radiologist, contacts_a, hospital_user_a, smtp):
    """A nodule acknowledged, a pneumothorax and a bleed open (the bleed due first)."""
    _r, [nodule] = sign_with_findings(hospital_a, radiologist, [NODULE])
    _r, [pneumothorax] = sign_with_findings(hospital_a, radiologist, [PNEUMOTHORAX])
    _r, [bleed] = sign_with_findings(hospital_a, radiologist, [BLEED])
    for result in (nodule, pneumothorax, bleed):
        critical_result_notify(critical_result_id=result.pk)
    critical_result_acknowledge(
        critical_result_id=nodule.pk, user=hospital_user_a, via="portal", read_back=True
    )
    return nodule, pneumothorax, bleed


def test_the_list_puts_open_results_first_due_soonest_and_filters(three, hospital_user_a):
    nodule, pneumothorax, bleed = three
    api = api_as(hospital_user_a)
    rows = api.get("/api/v1/critical-results/").json()["results"]
    assert [r["id"] for r in rows] == [bleed.pk, pneumothorax.pk, nodule.pk]
    assert rows[0]["category"] == "minutes" and rows[0]["hospital"]["code"] == "alpha"
    assert rows[0]["study"]["patient_name"] == "Hong^Gildong"
    assert rows[0]["report"]["signature_name"] == "Dr Who, MD"
    assert rows[0]["acknowledge_url"] == f"/api/v1/critical-results/{bleed.pk}/acknowledge/"
    opened = api.get("/api/v1/critical-results/?state=open").json()["results"]
    assert [r["id"] for r in opened] == [bleed.pk, pneumothorax.pk]
    assert api.get("/api/v1/critical-results/?hospital=beta").json()["results"] == []
    assert api.get("/api/v1/critical-results/?state=later").status_code == 400
    listed = AuditEvent.objects.filter(action="critical_result.list", actor_label="alpha.it")
    assert listed.count() == 3


def test_the_detail_carries_the_communication_record_and_is_audited(three, hospital_user_a):
    _nodule, _pneumothorax, bleed = three
    body = api_as(hospital_user_a).get(f"/api/v1/critical-results/{bleed.pk}/").json()
    assert [(n["level"], n["channel"], n["outcome"]) for n in body["notifications"]] == [
        (1, "portal", "sent"),
        (1, "email", "sent"),
    ]
    assert body["notifications"][1]["recipient"] == "ed@alpha.example"
    assert body["notifications"][1]["recipient_name"] == "ED attending, ED attending on duty"
    read = AuditEvent.objects.get(action="critical_result.read", actor_label="alpha.it")
    assert read.target_id == str(bleed.pk) and read.patient_id == bleed.study.patient_id


def test_the_hospitals_page_shows_open_ones_first_with_a_button_and_local_times(
    three, hospital_user_a
):
    _nodule, _pneumothorax, bleed = three
    hospital_user_a.time_zone = "Asia/Seoul"
    hospital_user_a.save()
    html = _login(hospital_user_a).get("/critical-results/").content.decode()
    assert html.index(BLEED["finding"]) < html.index(PNEUMOTHORAX["finding"])
    assert html.index(PNEUMOTHORAX["finding"]) < html.index(NODULE["finding"])
    assert html.count(">Acknowledge…</a>") == 2  # each opens the form with the read-back
    raised = timezone.localtime(bleed.raised_at, dt.timezone(dt.timedelta(hours=9)))
    assert raised.strftime("%Y-%m-%d %H:%M") + " UTC+9" in html
    assert "ago" in html and "2 waiting for acknowledgement" in html
    partial = _login(hospital_user_a).get("/critical-results/?partial=1").content.decode()
    assert "<html" not in partial and BLEED["finding"] in partial


def test_the_managers_page_offers_the_phone_acknowledgement_for_every_hospital(
    three, manager, hospital_b, radiologist
):
    sign_with_findings(hospital_b, radiologist, [NODULE])
    html = _login(manager).get("/critical-results/").content.decode()
    assert html.count("Record a phone acknowledgement…") == 3  # the three open ones
    assert "beta" in html and "alpha" in html
    assert ">Acknowledge…</a>" not in html


def test_the_detail_page_shows_the_record(three, hospital_user_a):
    _nodule, _pneumothorax, bleed = three
    html = _login(hospital_user_a).get(f"/critical-results/{bleed.pk}/").content.decode()
    assert "Communication record" in html and "ed@alpha.example" in html
    assert 'id="acknowledge"' in html
    # What is being acknowledged: the finding, the report's impression, and the report itself.
    assert bleed.report.impression in html
    assert f'href="/reports/{bleed.report_id}/" id="report-link"' in html
    assert 'name="read_back" value="yes" required' in html and 'name="role"' in html


def test_the_record_partial_renders_what_was_said_to_whom_and_the_acknowledgement(
    three, hospital_user_a
):
    nodule, _pneumothorax, _bleed = three
    results = critical_results_for_report(report=nodule.report)
    assert [r.pk for r in results] == [nodule.pk]
    html = render_to_string("critical/_record.html", {"critical_results": results})
    assert NODULE["finding"] in html and "Category 3: within days" in html
    assert "ED attending, ED attending on duty" in html and "Email" in html and "Portal" in html
    assert (
        "Acknowledged" in html and "alpha.it" in html and "Portal (critical results page)" in html
    )
    assert "Dr Who, MD" in html and "report v1" in html


def test_the_report_record_covers_this_version_and_earlier_ones(hospital_a, radiologist):
    preliminary, [bleed] = sign_with_findings(hospital_a, radiologist, [BLEED], kind="preliminary")
    final, [same, nodule] = sign_with_findings(
        hospital_a, radiologist, [BLEED, NODULE], case=preliminary.case, parent=preliminary
    )
    assert same.pk == bleed.pk
    assert [r.pk for r in critical_results_for_report(report=preliminary)] == [bleed.pk]
    assert [r.pk for r in critical_results_for_report(report=final)] == [bleed.pk, nodule.pk]
    assert CriticalResult.objects.count() == 2


def test_the_openapi_schema_documents_the_critical_results(manager):
    schema = api_as(manager).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for path in (
        "/api/v1/critical-results/",
        "/api/v1/critical-results/{id}/",
        "/api/v1/critical-results/{id}/acknowledge/",
    ):
        assert path in schema["paths"], path
    ack = schema["paths"]["/api/v1/critical-results/{id}/acknowledge/"]["post"]
    assert {"200", "400", "403", "404"} <= set(ack["responses"])
    assert ack["tags"] == ["critical results"]
