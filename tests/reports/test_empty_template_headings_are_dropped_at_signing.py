"""Template headings left empty never reach the hospital; required ones block signing."""

from __future__ import annotations

import pytest
from django.test import Client

from readingcenter.errors import DomainError
from readingcenter.reports.models import ReportTemplate
from readingcenter.reports.services import report_sign
from tests.conftest import api_as
from tests.reports.conftest import PASSWORD, complete

NOT_CRITICAL = [{"key": "pneumothorax", "decision": "not_critical", "reason": "AI false positive"}]


def _sign(report, radiologist):
    return report_sign(report_id=report.pk, user=radiologist, password=PASSWORD, kind="final",
                       critical_answers=NOT_CRITICAL)  # fmt: skip


def test_an_empty_optional_heading_is_dropped_from_the_signed_text(
    chest_draft, radiologist, hospital_user_a
):
    findings = (
        "Lines and tubes: \n"
        "Lungs: Clear.\n"
        "Pleura: No effusion.\n"
        "Heart and mediastinum: \n"
        "Bones and soft tissues: "
    )
    saved = complete(chest_draft, radiologist, findings=findings, impression="Normal chest.",
                     ai_review={"cxr-pneumothorax:pneumothorax": "rejected"})  # fmt: skip
    signed = _sign(saved, radiologist)
    assert signed.findings == "Lungs: Clear.\nPleura: No effusion."
    assert signed.hash_matches()
    # The hospital reads it so on its page.
    client = Client()
    client.force_login(hospital_user_a)
    page = client.get(f"/reports/{signed.pk}/").content.decode()
    assert "Lungs: Clear." in page and "Lines and tubes" not in page


def test_a_required_heading_left_empty_refuses_the_signature_naming_it(chest_draft, radiologist):
    findings = "Lines and tubes: \nLungs: \nPleura: Small effusion."
    saved = complete(chest_draft, radiologist, findings=findings, impression="Effusion.",
                     ai_review={"cxr-pneumothorax:pneumothorax": "rejected"})  # fmt: skip
    response = api_as(radiologist).post(
        f"/api/v1/reports/{saved.pk}/sign/", {"password": PASSWORD, "kind": "final"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "section_required" and body["field"] == "findings"
    assert "“Lungs”" in body["detail"] and "Lines and tubes" not in body["detail"]
    before = saved.findings
    saved.refresh_from_db()
    assert saved.state == "draft" and saved.findings == before  # nothing lost


def test_a_heading_whose_text_is_on_the_next_line_is_kept(chest_draft, radiologist):
    findings = "Lungs:\n  Patchy right basal opacity.\nPleura: Clear."
    saved = complete(chest_draft, radiologist, findings=findings, impression="Pneumonia.",
                     ai_review={"cxr-pneumothorax:pneumothorax": "rejected"})  # fmt: skip
    assert _sign(saved, radiologist).findings == findings


def test_a_required_section_left_empty_refuses_the_signature(chest_draft, radiologist):
    ReportTemplate.objects.filter(pk=chest_draft.template_id).update(
        required_sections=["impression", "technique"]
    )
    saved = complete(chest_draft, radiologist, technique="", impression="Normal chest.",
                     ai_review={"cxr-pneumothorax:pneumothorax": "rejected"})  # fmt: skip
    with pytest.raises(DomainError) as refused:
        _sign(saved, radiologist)
    assert (refused.value.code, refused.value.field) == ("section_required", "technique")
    assert "Technique is required" in refused.value.message
