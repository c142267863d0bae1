from __future__ import annotations

import pytest

from readingcenter.errors import Conflict
from readingcenter.reports.services import report_open_draft, report_sign
from tests.reports.conftest import PASSWORD, complete, filled_findings, flag_ich


def test_a_head_ct_opens_with_the_head_ct_template(draft):
    assert draft.template.name == "CT head without contrast"
    assert "without intravenous contrast" in draft.technique
    assert "Brain parenchyma:" in draft.findings
    assert draft.state == "draft" and draft.revision == 1


def test_the_ai_positive_finding_opens_the_findings_marked_as_pending(claimed, radiologist):
    flag_ich(claimed.study)
    draft = report_open_draft(case_id=claimed.pk, user=radiologist)
    assert draft.findings.startswith("Findings suggestive of intracranial hemorrhage.")
    assert draft.ai_review == {"head-ct-ich:ich": "pending"}
    (entry,) = draft.ai_draft
    assert entry["model_version"] == "1.0.0" and entry["probability"] == 0.91


def test_no_ai_flag_means_no_ai_sentence_and_never_a_negative_one(draft):
    assert draft.ai_draft == []
    assert "no hemorrhage" not in draft.findings.lower()


def test_opening_twice_returns_the_same_draft(claimed, radiologist):
    first = report_open_draft(case_id=claimed.pk, user=radiologist)
    assert report_open_draft(case_id=claimed.pk, user=radiologist).pk == first.pk


def test_signing_waits_for_the_radiologists_word_on_each_ai_sentence(claimed, radiologist):
    flag_ich(claimed.study)
    draft = report_open_draft(case_id=claimed.pk, user=radiologist)
    saved = complete(draft, radiologist, ai_review={"head-ct-ich:ich": "pending"})
    with pytest.raises(Conflict) as refused:
        report_sign(report_id=saved.pk, user=radiologist, password=PASSWORD, kind="final")
    assert refused.value.code == "ai_draft_unreviewed"


def test_what_the_ai_drafted_and_what_was_signed_are_both_kept(claimed, radiologist):
    flag_ich(claimed.study)
    draft = report_open_draft(case_id=claimed.pk, user=radiologist)
    edited = filled_findings(draft).replace(
        "Findings suggestive of intracranial hemorrhage.",
        "Findings suggestive of acute intracranial hemorrhage in the left parietal lobe.",
    )
    saved = complete(draft, radiologist, findings=edited,
                     ai_review={"head-ct-ich:ich": "edited"})  # fmt: skip
    # The AI flagged a finding the head-CT template lists as critical: signing asks.
    answer = {"key": "intracranial_hemorrhage", "decision": "critical", "category": "minutes"}
    signed = report_sign(report_id=saved.pk, user=radiologist, password=PASSWORD, kind="final",
                         critical_answers=[answer])  # fmt: skip
    assert signed.ai_draft[0]["sentence"] == "Findings suggestive of intracranial hemorrhage."
    (acceptance,) = signed.ai_acceptance
    assert acceptance["outcome"] == "edited" and acceptance["review"] == "edited"
    assert 0.5 <= acceptance["similarity"] < 1


def test_a_rejected_ai_sentence_counts_as_removed(claimed, radiologist):
    flag_ich(claimed.study)
    draft = report_open_draft(case_id=claimed.pk, user=radiologist)
    findings = filled_findings(draft).replace("Findings suggestive of intracranial hemorrhage.", "")
    saved = complete(draft, radiologist, findings=findings, impression="No acute findings.",
                     ai_review={"head-ct-ich:ich": "rejected"})  # fmt: skip
    signed = report_sign(report_id=saved.pk, user=radiologist, password=PASSWORD, kind="final")
    assert signed.ai_acceptance[0]["outcome"] == "removed"


def test_macros_expand_as_the_report_is_saved(draft, radiologist):
    saved = complete(draft, radiologist, impression=".nml .corr")
    assert (
        saved.impression
        == "No acute intracranial abnormality. Clinical correlation is recommended."
    )
