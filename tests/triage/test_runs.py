"""Recording what the AI found: immutable runs, escalation only, positive-only drafts."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, transaction

from readingcenter.studies.services import order_create
from tests.conftest import api_as
from tests.factories import make_study
from triage.core.outcome import FindingResult, RunOutcome, draft_sentences
from triage.models import TriageRun
from triage.services import triage_run_record


def _outcome(probability: float, *, version="1.0.0", status="succeeded", reason="") -> RunOutcome:
    return RunOutcome(
        model_name="ich-headct",
        model_version=version,
        weights_sha256="ab" * 32,
        status=status,
        findings=[FindingResult("ich", "intracranial hemorrhage", probability, 0.3)]
        if status == "succeeded"
        else [],
        series_instance_uid="1.2.3",
        sop_instance_uids=["1.2.3.1", "1.2.3.2"],
        runtime_ms=412.0,
        reason=reason,
    )


def test_a_positive_flag_makes_the_study_stat_and_says_which_model_and_why(hospital_a, manager):
    study = make_study(hospital_a, version=1)
    run = triage_run_record(study_id=study.id, study_version=1, outcome=_outcome(0.91))
    study.refresh_from_db()
    assert run.flags == {"ich": True}
    assert study.priority == "stat"
    assert "AI ich-headct 1.0.0 flags ich" in study.priority_reason
    data = api_as(manager).get(f"/api/v1/studies/{study.id}/").data
    assert data["ai"]["status"] == "completed"
    assert data["ai"]["flags"] == ["ich"]
    assert data["ai"]["runs"][0]["weights_sha256"] == "ab" * 32
    assert "requires radiologist confirmation" in data["ai"]["draft_findings"][0]


def test_a_run_without_a_flag_never_lowers_a_stat_order_and_drafts_nothing(
    hospital_a, hospital_user_a
):
    study = make_study(hospital_a, version=1, accession_number="S-1")
    order_create(hospital=hospital_a, actor=hospital_user_a, accession_number="S-1",
                 requested_procedure="CT head", priority="STAT")  # fmt: skip
    run = triage_run_record(study_id=study.id, study_version=1, outcome=_outcome(0.02))
    study.refresh_from_db()
    assert study.priority == "stat"
    assert run.draft_findings == []


@pytest.mark.parametrize(
    ("status", "reason"),
    [("not_applicable", "no axial CT head series"), ("failed", "JPEG Extended 12-bit")],
)
def test_not_applicable_and_failed_change_nothing_and_read_as_not_run(
    hospital_a, manager, status, reason
):
    study = make_study(hospital_a, version=1)
    triage_run_record(study_id=study.id, study_version=1,
                      outcome=_outcome(0, status=status, reason=reason))  # fmt: skip
    study.refresh_from_db()
    assert study.priority == "routine"
    ai = api_as(manager).get(f"/api/v1/studies/{study.id}/").data["ai"]
    assert ai["status"] == "not_run"
    assert ai["runs"][0]["reason"] == reason


def test_a_new_study_version_adds_a_run_and_leaves_the_first_intact(hospital_a):
    study = make_study(hospital_a, version=1)
    first = triage_run_record(study_id=study.id, study_version=1, outcome=_outcome(0.1))
    study.version = 2
    study.save()
    second = triage_run_record(study_id=study.id, study_version=2, outcome=_outcome(0.8))
    first.refresh_from_db()
    assert first.pk != second.pk
    assert (first.study_version, first.probabilities) == (1, {"ich": 0.1})
    assert (second.study_version, second.flags) == (2, {"ich": True})


def test_a_retried_job_gets_the_run_it_already_recorded(hospital_a):
    study = make_study(hospital_a, version=1)
    first = triage_run_record(study_id=study.id, study_version=1, outcome=_outcome(0.5))
    again = triage_run_record(study_id=study.id, study_version=1, outcome=_outcome(0.5))
    assert first.pk == again.pk
    assert TriageRun.objects.count() == 1


def test_a_run_on_a_superseded_version_does_not_move_the_priority(hospital_a):
    study = make_study(hospital_a, version=2)
    triage_run_record(study_id=study.id, study_version=1, outcome=_outcome(0.95))
    study.refresh_from_db()
    assert study.priority == "routine"


def test_the_database_refuses_to_change_or_delete_a_run(hospital_a):
    study = make_study(hospital_a, version=1)
    run = triage_run_record(study_id=study.id, study_version=1, outcome=_outcome(0.5))
    with pytest.raises(DatabaseError), transaction.atomic():
        TriageRun.objects.filter(pk=run.pk).update(probabilities={"ich": 0.0})
    with pytest.raises(DatabaseError), transaction.atomic():
        TriageRun.objects.filter(pk=run.pk).delete()
    run.refresh_from_db()
    assert run.probabilities == {"ich": 0.5}


def test_drafts_name_only_positive_findings_and_never_say_no():
    outcome = _outcome(0.9)
    outcome.findings.append(FindingResult("midline_shift", "midline shift", 0.05, 0.5))
    sentences = draft_sentences(outcome)
    assert len(sentences) == 1
    assert "intracranial hemorrhage" in sentences[0] and "90%" in sentences[0]
    assert "midline" not in sentences[0]
    assert not any(word in " ".join(sentences).lower() for word in ("no ", "without", "negative"))


def test_the_board_shows_ai_flags_and_ai_not_run_but_never_negative(client, manager, hospital_a):
    flagged = make_study(hospital_a, version=1, patient_name="Flagged^One")
    make_study(hospital_a, version=1, patient_name="Untouched^Two")
    quiet = make_study(hospital_a, version=1, patient_name="Quiet^Three")
    triage_run_record(study_id=flagged.id, study_version=1, outcome=_outcome(0.9))
    triage_run_record(study_id=quiet.id, study_version=1, outcome=_outcome(0.01))
    client.force_login(manager)
    page = client.get("/studies/").content.decode()
    assert "AI: ich" in page
    assert page.count("AI not run") == 1  # the untouched study; the quiet one says nothing
    assert "negative" not in page.lower()
    detail = client.get(f"/studies/{flagged.id}/").content.decode()
    assert "requires radiologist confirmation" in detail
