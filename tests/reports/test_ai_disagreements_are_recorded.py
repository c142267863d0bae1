"""A final read that contradicts the AI is recorded per model version, with the model's score
and threshold: a flag the reader rejected, and a finding called critical that the model did
not flag. The model's page summarises them for the next threshold."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from readingcenter.quality.models import AIDisagreement
from readingcenter.quality.selectors import disagreements_for, threshold_hint
from readingcenter.reports.services import report_open_draft
from readingcenter.worklist.services import case_claim
from tests.conftest import api_as
from tests.reports.conftest import PASSWORD, complete, flag_ich

pytestmark = pytest.mark.django_db(transaction=True)
CALLED_IN = [{"key": "intracranial_hemorrhage", "decision": "critical", "category": "minutes"}]


def _silent_ich(study, probability: float):
    """A head-CT ICH run that did not flag (runs are immutable: made as they ended)."""
    from triage.models import TriageRun

    return TriageRun.objects.create(
        study=study, study_version=study.version, model_name="head-ct-ich",
        model_version="1.0.0", weights_sha256="ab" * 32, thresholds={"ich": 0.07},
        status="succeeded", probabilities={"ich": probability}, flags={"ich": False},
    )  # fmt: skip


def _read(case, radiologist, **written):
    case_claim(case_id=case.pk, user=radiologist)
    draft = report_open_draft(case_id=case.pk, user=radiologist)
    complete(draft, radiologist, **written)
    return draft


def _sign(draft, radiologist, **more):
    answer = api_as(radiologist).post(f"/api/v1/reports/{draft.pk}/sign/",
                                      {"password": PASSWORD, "kind": "final", **more},
                                      format="json")  # fmt: skip
    assert answer.status_code in (200, 201), answer.content


def test_a_rejected_flag_and_an_unflagged_critical_finding_are_disagreements(
    case, radiologist, hospital_a
):
    from tests.factories import make_case

    flag_ich(case.study, probability=0.62)
    draft = _read(case, radiologist, impression="No acute intracranial abnormality.",
                  ai_review={"head-ct-ich:ich": "rejected"})  # fmt: skip
    _sign(draft, radiologist)
    rejected = AIDisagreement.objects.get()
    assert (rejected.kind, rejected.finding, rejected.model_version) == (
        "flag_not_confirmed",
        "ich",
        "1.0.0",
    )
    assert (rejected.probability, rejected.threshold) == (0.62, 0.07)

    # The model stayed silent (0.03 < 0.07); the reader calls a subdural hematoma critical.
    second = make_case(hospital_a, modalities=["CT"], body_part_examined="HEAD",
                       study_description="CT HEAD WO CONTRAST", version=1)  # fmt: skip
    _silent_ich(second.study, probability=0.03)
    draft = _read(second, radiologist, impression="Acute left subdural hematoma, 6 mm.")
    _sign(draft, radiologist, critical_answers=CALLED_IN)
    missed = AIDisagreement.objects.get(kind="finding_not_flagged")
    assert (missed.finding, missed.probability) == ("ich", 0.03)
    assert "subdural hematoma" in missed.reader_words.lower()

    rows = list(disagreements_for(model_name="head-ct-ich", model_version="1.0.0",
                                  since=timezone.now() - dt.timedelta(days=30)))  # fmt: skip
    hint = threshold_hint(rows)
    assert (hint.unconfirmed, hint.missed) == (1, 1)
    assert (hint.highest_unconfirmed, hint.lowest_missed) == (0.62, 0.03)


def test_an_agreeing_read_records_nothing(case, radiologist):
    flag_ich(case.study)
    draft = _read(case, radiologist, impression="Acute left subdural hematoma, 6 mm.",
                  ai_review={"head-ct-ich:ich": "accepted"})  # fmt: skip
    _sign(draft, radiologist, critical_answers=CALLED_IN)
    assert not AIDisagreement.objects.exists()
