from __future__ import annotations

from readingcenter.audit.models import AuditEvent
from readingcenter.reports.models import Report
from readingcenter.worklist.models import CaseState
from readingcenter.worklist.selectors import worklist
from tests.conftest import api_as
from tests.reports.conftest import PASSWORD, complete


def _sign(client, report, password=PASSWORD, kind="final", **more):
    return client.post(
        f"/api/v1/reports/{report.pk}/sign/",
        {"password": password, "kind": kind, **more},
        format="json",
    )


# The subdural hematoma these tests' impressions name, called in as critical at signing.
CALLED_IN = [{"key": "intracranial_hemorrhage", "decision": "critical", "category": "minutes"}]


def test_signing_without_the_password_fails_and_signs_nothing(draft, radiologist):
    complete(draft, radiologist)
    client = api_as(radiologist)
    for password in ("", "wrong-password"):
        response = _sign(client, draft, password=password)
        assert response.status_code in (400, 403)
    response = _sign(client, draft, password="wrong-password")
    assert response.json()["code"] == "reauthentication_failed"
    draft.refresh_from_db()
    assert draft.state == "draft" and draft.signed_at is None
    assert AuditEvent.objects.filter(action="report.sign", outcome="denied").exists()


def test_signing_freezes_the_report_with_its_hash_and_takes_the_case_off_the_worklist(
    draft, radiologist
):
    complete(draft, radiologist)
    response = _sign(api_as(radiologist), draft)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["state"] == "signed" and body["status"] == "final"
    assert body["version_number"] == 1
    assert body["signature_meaning"] == "final report"
    report = Report.objects.get(pk=draft.pk)
    assert report.hash_matches() and len(report.content_sha256) == 64
    case = report.case
    assert case.state == CaseState.SIGNED and case.signed_at == report.signed_at
    assert not worklist(user=radiologist).filter(pk=case.pk).exists()


def test_a_preliminary_then_a_final_are_versions_1_and_2(draft, radiologist, hospital_user_a):
    complete(draft, radiologist, impression="Probable subdural hematoma; final to follow.")
    client = api_as(radiologist)
    signed = _sign(client, draft, kind="preliminary", critical_answers=CALLED_IN).json()
    assert signed["status"] == "preliminary"
    draft.case.refresh_from_db()
    assert draft.case.state == CaseState.IN_REPORT and draft.case.preliminary_at is not None
    final_draft = Report.objects.get(case=draft.case, state="draft")
    assert final_draft.parent_id == draft.pk
    assert final_draft.impression.startswith("Probable subdural")
    complete(final_draft, radiologist, impression="Acute left subdural hematoma, 8 mm.")
    final = _sign(client, final_draft, critical_answers=CALLED_IN).json()
    assert (final["version_number"], final["status"], final["parent_version"]) == (2, "final", 1)
    # The hospital reads the preliminary as preliminary, and the final as final.
    seen = api_as(hospital_user_a).get(f"/api/v1/reports/?study={draft.study_id}").json()
    assert [(r["version_number"], r["status"]) for r in seen["results"]] == [
        (2, "final"),
        (1, "preliminary"),
    ]


def test_signing_twice_is_refused(draft, radiologist):
    complete(draft, radiologist)
    client = api_as(radiologist)
    assert _sign(client, draft).status_code == 200
    again = _sign(client, draft)
    assert again.status_code == 409


def test_a_report_needs_an_impression(draft, radiologist):
    complete(draft, radiologist, impression="   ")
    response = _sign(api_as(radiologist), draft)
    assert response.status_code == 400 and response.json()["code"] == "impression_required"
