"""The runs the worklist, the report draft and the priority signal read: succeeded, current."""

from __future__ import annotations

import pytest

from tests.factories import make_study
from triage.core.outcome import FindingResult, RunOutcome
from triage.selectors import triage_runs_succeeded
from triage.services import triage_run_record

pytestmark = pytest.mark.django_db


def _outcome(model_name: str, *, status: str = "succeeded") -> RunOutcome:
    return RunOutcome(
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
