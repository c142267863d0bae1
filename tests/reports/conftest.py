"""A claimed head-CT case with an AI flag, the shipped templates, and helpers to sign."""

from __future__ import annotations

import pytest

from readingcenter.reports.services import report_open_draft, report_templates_load
from readingcenter.worklist.services import case_claim
from tests.factories import make_case

PASSWORD = "correct-horse-battery"


def flag_ich(study, probability: float = 0.91):
    """Record a positive head-CT ICH run on the study's current version, as triage would."""
    from triage.models import TriageRun

    return TriageRun.objects.create(
        study=study,
        study_version=study.version,
        model_name="head-ct-ich",
        model_version="1.0.0",
        weights_sha256="ab" * 32,
        thresholds={"ich": 0.07},
        status="succeeded",
        probabilities={"ich": probability},
        flags={"ich": True},
        draft_findings=[
            "AI-generated, requires radiologist confirmation: findings suggestive of "
            "intracranial hemorrhage (probability 91%; model head-ct-ich 1.0.0)."
        ],
    )


def flag_pneumothorax(study, probability: float = 0.99):
    """A positive chest-radiograph pneumothorax run on the study's current version."""
    from triage.models import TriageRun

    return TriageRun.objects.create(
        study=study,
        study_version=study.version,
        model_name="cxr-pneumothorax",
        model_version="1.0.0",
        weights_sha256="cd" * 32,
        thresholds={"pneumothorax": 0.44},
        status="succeeded",
        probabilities={"pneumothorax": probability},
        flags={"pneumothorax": True},
        draft_findings=[
            "AI-generated, requires radiologist confirmation: findings suggestive of "
            "pneumothorax (probability 99%; model cxr-pneumothorax 1.0.0)."
        ],
    )


@pytest.fixture
def chest_draft(hospital_a, radiologist, templates):
    """A claimed chest radiograph the AI flagged for pneumothorax, its draft open."""
    case = make_case(
        hospital_a,
        modalities=["CR"],
        body_part_examined="CHEST",
        study_description="CHEST PA",
        version=1,
        patient_name="Lee^Minho",
    )
    flag_pneumothorax(case.study)
    case_claim(case_id=case.pk, user=radiologist)
    return report_open_draft(case_id=case.pk, user=radiologist)


@pytest.fixture
def templates(db):
    report_templates_load()


@pytest.fixture
def case(hospital_a, templates):
    return make_case(
        hospital_a,
        modalities=["CT"],
        body_part_examined="HEAD",
        study_description="CT HEAD WO CONTRAST",
        version=1,
        patient_name="Kim^Jisoo=김^지수",
    )


@pytest.fixture
def claimed(case, radiologist):
    case_claim(case_id=case.pk, user=radiologist)
    case.refresh_from_db()
    return case


@pytest.fixture
def draft(claimed, radiologist):
    return report_open_draft(case_id=claimed.pk, user=radiologist)


# What a reader writes under each heading of the template when the test is about something else.
FILLED = "Unremarkable."


def filled_findings(report) -> str:
    """The draft's findings with every empty template heading written in (signing refuses a
    required one left empty)."""
    return "\n".join(
        f"{line.rstrip()} {FILLED}" if line.rstrip().endswith(":") else line
        for line in report.findings.split("\n")
    )


def complete(report, radiologist, *, impression="Chronic small vessel ischemic change.", **more):
    """Fill the draft the way a radiologist does before signing; returns the saved row."""
    from readingcenter.reports.services import report_save

    changes = {"impression": impression, "findings": filled_findings(report), **more}
    if report.ai_draft and "ai_review" not in changes:
        changes["ai_review"] = {e["finding"]: "accepted" for e in report.ai_draft}
    return report_save(
        report_id=report.pk, user=radiologist, revision=report.revision, changes=changes
    )
