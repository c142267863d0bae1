"""The runs the worklist, the report draft and the priority signal read: succeeded, current."""

from __future__ import annotations

import pytest

from tests.factories import make_study
from triage.core.outcome import FindingResult, RunOutcome
from triage.models import INPUT_CHECK_KEY
from triage.selectors import triage_runs_succeeded, triage_runs_succeeded_and_withheld
from triage.services import triage_run_record

pytestmark = pytest.mark.django_db


def _outcome(model_name: str, *, status: str = "succeeded", **detail) -> RunOutcome:
    return RunOutcome(
        detail=detail,
        model_name=model_name,
        model_version="1.0.0",
        weights_sha256="ab" * 32,
        status=status,
        findings=[FindingResult("ich", "intracranial hemorrhage", 0.9, 0.3)]
        if status == "succeeded"
        else [],
        reason="" if status == "succeeded" else "no axial CT head series",
    )


def test_only_the_succeeded_runs_of_the_current_version_are_read(hospital_a):
    study = make_study(hospital_a, version=2)
    triage_run_record(study_id=study.id, study_version=1, outcome=_outcome("ich-headct"))
    now = triage_run_record(study_id=study.id, study_version=2, outcome=_outcome("ich-headct"))
    triage_run_record(
        study_id=study.id, study_version=2, outcome=_outcome("cxr", status="not_applicable")
    )

    assert list(triage_runs_succeeded(study)) == [now]


def test_the_worklist_reads_the_succeeded_and_the_withheld_runs_in_one_query(
    hospital_a, django_assert_num_queries
):
    study = make_study(hospital_a, version=2)
    triage_run_record(study_id=study.id, study_version=1, outcome=_outcome("ich-headct"))
    spoke = triage_run_record(study_id=study.id, study_version=2, outcome=_outcome("ich-headct"))
    # A chest model on a head CT: true of every study of another kind, not worth showing.
    triage_run_record(
        study_id=study.id, study_version=2, outcome=_outcome("cxr", status="not_applicable")
    )
    # A model made for the study whose input check kept it silent: shown, with why.
    silent = triage_run_record(
        study_id=study.id,
        study_version=2,
        outcome=_outcome("ich-b", status="not_applicable", **{INPUT_CHECK_KEY: "localizer"}),
    )
    unsure = triage_run_record(
        study_id=study.id, study_version=2, outcome=_outcome("ich-c", status="low_confidence")
    )

    with django_assert_num_queries(1):
        succeeded, withheld = triage_runs_succeeded_and_withheld(study)
    assert succeeded == [spoke]
    assert withheld == [silent, unsure]


def test_a_study_never_complete_has_no_runs_to_read(hospital_a, django_assert_num_queries):
    """Triage runs on a completed version: version 0 has none, and no query asks."""
    study = make_study(hospital_a, version=0)
    with django_assert_num_queries(0):
        assert triage_runs_succeeded_and_withheld(study) == ([], [])
        assert list(triage_runs_succeeded(study)) == []
