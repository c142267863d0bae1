"""At signing, a critical finding the AI flagged (and the template lists) or the impression
names must be marked critical or given a reason; the answer is recorded."""

from __future__ import annotations

import pytest

from readingcenter.audit.models import AuditEvent
from readingcenter.critical.models import CriticalResult
from readingcenter.errors import DomainError
from readingcenter.reports.models import Report
from readingcenter.reports.services import critical_prompts, report_sign
from tests.conftest import api_as
from tests.reports.conftest import PASSWORD, complete, flag_ich

IMPRESSION = "Moderate right pneumothorax with mediastinal shift; chest tube advised."


def _sign(report, radiologist, answers=None):
    return report_sign(report_id=report.pk, user=radiologist, password=PASSWORD, kind="final",
                       critical_answers=answers)  # fmt: skip


def test_it_refuses_to_sign_an_unanswered_pneumothorax_and_signs_nothing(chest_draft, radiologist):
    saved = complete(chest_draft, radiologist, impression=IMPRESSION)
    response = api_as(radiologist).post(
        f"/api/v1/reports/{saved.pk}/sign/", {"password": PASSWORD, "kind": "final"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "critical_unanswered"
    assert body["field"] == "critical_answers"
    assert "pneumothorax (AI flag, impression)" in body["detail"]
    assert Report.objects.get(pk=saved.pk).state == "draft"
    assert not CriticalResult.objects.exists()


def test_marking_it_critical_adds_the_impressions_sentence_and_calls_the_hospital(
    chest_draft, radiologist
):
    saved = complete(chest_draft, radiologist, impression=IMPRESSION)
    (prompt,) = critical_prompts(saved)
    assert [s["kind"] for s in prompt["sources"]] == ["ai", "impression"]
    assert prompt["sources"][0]["text"] == "cxr-pneumothorax 1.0.0 flagged pneumothorax, p=0.99"
    signed = _sign(saved, radiologist, [{"key": "pneumothorax", "decision": "critical"}])
    assert signed.critical_findings == [{"finding": IMPRESSION, "category": "minutes"}]
    (review,) = signed.critical_review
    assert (review["key"], review["decision"], review["category"]) == (
        "pneumothorax", "critical", "minutes"
    )  # fmt: skip
    assert signed.hash_matches()  # the finding added at signing is part of what was signed
    (result,) = CriticalResult.objects.filter(report=signed)
    assert result.finding == IMPRESSION and result.state == "open"
    event = AuditEvent.objects.get(action="report.sign", target_id=str(signed.pk))
    assert event.detail["critical_review"] == [
        {"key": "pneumothorax", "decision": "critical", "category": "minutes"}
    ]


def test_a_reason_not_to_call_it_in_is_recorded(chest_draft, radiologist):
    saved = complete(chest_draft, radiologist, impression=IMPRESSION)
    why = "Known pneumothorax, chest tube already in place; referrer at the bedside."
    answer = {"key": "pneumothorax", "decision": "not_critical", "reason": why}
    signed = _sign(saved, radiologist, [answer])
    assert signed.critical_findings == []
    assert signed.critical_review[0]["decision"] == "not_critical"
    assert signed.critical_review[0]["reason"] == why
    assert not CriticalResult.objects.exists()


def test_not_critical_without_a_reason_is_no_answer(chest_draft, radiologist):
    saved = complete(chest_draft, radiologist, impression=IMPRESSION)
    with pytest.raises(DomainError) as refused:
        _sign(saved, radiologist, [{"key": "pneumothorax", "decision": "not_critical",
                                    "reason": "  "}])  # fmt: skip
    assert refused.value.code == "critical_unanswered"


def test_a_critical_finding_already_marked_is_its_own_answer(chest_draft, radiologist):
    marked = [{"finding": "Tension pneumothorax on the right", "category": "minutes"}]
    saved = complete(chest_draft, radiologist, impression=IMPRESSION, critical_findings=marked)
    signed = _sign(saved, radiologist)
    assert signed.critical_findings == marked
    assert signed.critical_review[0]["decision"] == "marked"


def test_the_ai_flag_alone_asks_even_when_the_impression_is_silent(chest_draft, radiologist):
    saved = complete(chest_draft, radiologist, impression="Small right pleural effusion.")
    with pytest.raises(DomainError) as refused:
        _sign(saved, radiologist)
    assert refused.value.code == "critical_unanswered"
    assert "pneumothorax (AI flag)" in refused.value.message


def test_a_negated_impression_and_a_rejected_ai_sentence_ask_nothing(chest_draft, radiologist):
    findings = chest_draft.findings.replace("Findings suggestive of pneumothorax.\n", "")
    saved = complete(chest_draft, radiologist, findings=findings.replace(": ", ": Clear. "),
                     impression="No pneumothorax. 기흉은 없음.",
                     ai_review={"cxr-pneumothorax:pneumothorax": "rejected"})  # fmt: skip
    assert critical_prompts(saved) == []
    assert _sign(saved, radiologist).critical_review == []


def test_an_ai_flag_the_template_does_not_list_asks_nothing(hospital_a, radiologist, templates):
    from readingcenter.reports.services import report_open_draft
    from readingcenter.worklist.services import case_claim
    from tests.factories import make_case

    # The abdomen template lists free air and dissection, not a bleed.
    case = make_case(hospital_a, modalities=["CT"], body_part_examined="ABDOMEN", version=1)
    flag_ich(case.study)
    case_claim(case_id=case.pk, user=radiologist)
    draft = report_open_draft(case_id=case.pk, user=radiologist)
    assert draft.template.name == "CT abdomen and pelvis"
    saved = complete(draft, radiologist, impression="Uncomplicated diverticulosis.")
    assert critical_prompts(saved) == []


def test_the_answers_are_checked(chest_draft, radiologist):
    saved = complete(chest_draft, radiologist, impression=IMPRESSION)
    response = api_as(radiologist).post(
        f"/api/v1/reports/{saved.pk}/sign/",
        {"password": PASSWORD, "kind": "final",
         "critical_answers": [{"key": "whatever", "decision": "critical"}]},
        format="json",
    )  # fmt: skip
    assert response.status_code == 400
    assert "critical_answers" in response.json()
