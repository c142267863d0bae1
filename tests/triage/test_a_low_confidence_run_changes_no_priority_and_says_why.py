"""A low-confidence run (the model was made for the study, but its images fall outside what it
was validated on) keeps its scores for the record, flags nothing, escalates nothing, and the
radiologist reads "AI not applied" with the reason in words, on the case page, the worklist
badge and the study API; an input check's not-applicable run says so too, a plain
wrong-modality one stays quiet."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.conftest import api_as
from tests.factories import make_case
from triage.core.outcome import FindingResult, RunOutcome
from triage.services import triage_run_record

pytestmark = pytest.mark.django_db

REASON = "the slices are 10 mm thick; the model was validated on 0.5 to 5 mm"


def _outcome(status: str, probability: float = 0.97, *, reason: str = REASON, detail=None):
    return RunOutcome(
        model_name="head-ct-ich",
        model_version="2.0.0",
        weights_sha256="ab" * 32,
        status=status,
        findings=[FindingResult("ich", "intracranial hemorrhage", probability, 0.3)],
        reason=reason,
        detail=detail or {},
    )


def _low_confidence_case(hospital):
    case = make_case(hospital)
    triage_run_record(
        study_id=case.study_id,
        study_version=case.study.version,
        outcome=_outcome(
            "low_confidence", detail={"input_check": {"code": "spacing", "thickness_mm": 10}}
        ),
    )
    case.refresh_from_db()
    case.study.refresh_from_db()
    return case


def test_a_low_confidence_run_above_threshold_keeps_its_score_and_escalates_nothing(
    hospital_a, manager
):
    case = _low_confidence_case(hospital_a)
    run = case.study.triage_runs.get()
    assert run.status == "low_confidence"
    assert run.probabilities == {"ich": 0.97}  # kept for the record
    assert run.flags == {"ich": False} and run.flagged == []
    assert run.draft_findings == []
    assert case.study.priority == "routine"
    assert (case.priority, case.ai_flagged, case.ai_score) == ("routine", False, 0.0)
    ai = api_as(manager).get(f"/api/v1/studies/{case.study_id}/").data["ai"]
    assert ai["status"] == "not_run" and ai["flags"] == []
    assert ai["not_applied"] == [f"head-ct-ich: {REASON}"]
    assert ai["runs"][0]["status_display"] == "Low confidence"


def test_the_radiologist_reads_ai_not_applied_and_the_reason_in_words(hospital_a, radiologist):
    case = _low_confidence_case(hospital_a)
    assert case.ai_note == f"head-ct-ich: {REASON}"
    browser = Client()
    browser.force_login(radiologist)
    page = browser.get(f"/cases/{case.pk}/").content.decode()
    assert "AI not applied:</b> " + REASON in page
    assert "0.97" not in page  # a withheld score is not shown to the reader as if it spoke
    assert "spacing" not in page  # the check's code is for machines, the reason for people
    worklist = browser.get("/worklist/?partial=1").content.decode()
    assert "AI not applied" in worklist and "10 mm thick" in worklist
    api_row = api_as(radiologist).get("/api/v1/worklist/").json()["results"][0]
    assert api_row["ai_note"] == f"head-ct-ich: {REASON}"


def test_a_low_confidence_run_never_lowers_what_a_flag_raised(hospital_a):
    case = make_case(hospital_a)
    flagged = RunOutcome(
        model_name="other-ich",
        model_version="1.0.0",
        weights_sha256="cd" * 32,
        status="succeeded",
        findings=[FindingResult("ich", "intracranial hemorrhage", 0.9, 0.3)],
    )
    triage_run_record(study_id=case.study_id, study_version=case.study.version, outcome=flagged)
    triage_run_record(
        study_id=case.study_id,
        study_version=case.study.version,
        outcome=_outcome("low_confidence", 0.01),
    )
    case.refresh_from_db()
    assert (case.priority, case.ai_flagged) == ("stat", True)
    assert case.ai_note == f"head-ct-ich: {REASON}"


def test_an_input_check_says_not_applied_and_a_wrong_modality_says_nothing(hospital_a):
    checked = make_case(hospital_a)
    triage_run_record(
        study_id=checked.study_id,
        study_version=checked.study.version,
        outcome=_outcome(
            "not_applicable",
            reason="a localizer (scout) series, not an axial head CT",
            detail={"input_check": {"code": "localizer"}},
        ),
    )
    other = make_case(hospital_a)
    triage_run_record(
        study_id=other.study_id,
        study_version=other.study.version,
        outcome=_outcome("not_applicable", reason="no CT series in this study (it has CR)"),
    )
    checked.refresh_from_db()
    other.refresh_from_db()
    assert checked.ai_note == "head-ct-ich: a localizer (scout) series, not an axial head CT"
    assert other.ai_note == ""
    assert (checked.priority, other.priority) == ("routine", "routine")
