"""Analytics' cast: signed cases with known times in March 2026, built row by row.

Rows are inserted as they stand after signing (the worklist and reports services are tested
elsewhere); what these tests check is the arithmetic and who may see it.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from readingcenter.analytics.selectors import Period
from readingcenter.reports.models import Report
from readingcenter.studies.models import Priority
from readingcenter.worklist.models import Case
from tests.factories import make_study
from triage.models import TriageRun

UTC = dt.UTC
MARCH = Period.month(2026, 3, "UTC")
_versions = itertools.count(1)


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A moment in March 2026, UTC."""
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def signed_case(
    hospital,
    *,
    arrived: dt.datetime,
    tat: float,
    target: float = 60,
    priority: str = "routine",
    reader=None,
    modality: str = "CT",
    body_part: str = "HEAD",
    preliminary: float | None = None,
    state: str = "signed",
    **study_fields,
) -> Case:
    """A case that arrived at ``arrived`` and was signed ``tat`` minutes later, due ``target``
    minutes after arrival; ``preliminary``: minutes to a preliminary report."""
    study = make_study(
        hospital,
        modalities=[modality],
        priority=priority,
        body_part_examined=body_part,
        completed_at=arrived,
        **study_fields,
    )
    return Case.objects.create(
        study=study,
        hospital=hospital,
        state=state,
        priority=priority,
        priority_rank=Priority.rank(priority),
        arrived_at=arrived,
        due_at=arrived + dt.timedelta(minutes=target),
        at_risk_at=arrived + dt.timedelta(minutes=target * 0.75),
        modality=modality,
        modalities=[modality],
        body_part=body_part,
        claimed_by=reader,
        claimed_at=arrived if reader else None,
        preliminary_at=arrived + dt.timedelta(minutes=preliminary) if preliminary else None,
        signed_at=arrived + dt.timedelta(minutes=tat) if state == "signed" else None,
    )


def final_report(case: Case, *, ai_draft=(), ai_acceptance=(), critical_findings=()) -> Report:
    """The signed final report of a case, as signing leaves it."""
    return Report.objects.create(
        study=case.study,
        case=case,
        hospital=case.hospital,
        state="signed",
        kind="final",
        findings="Findings.",
        impression="Impression.",
        critical_findings=list(critical_findings),
        ai_draft=list(ai_draft),
        ai_acceptance=list(ai_acceptance),
        author=case.claimed_by,
        version_number=next(_versions),
        signed_by=case.claimed_by,
        signed_at=case.signed_at,
        signature_name="Dr Who, MD",
        signature_meaning="final report",
        content_sha256="0" * 64,
    )


def triage_run(case: Case, *, model: str, version: str, flags: dict) -> TriageRun:
    return TriageRun.objects.create(
        study=case.study,
        study_version=1,
        model_name=model,
        model_version=version,
        weights_sha256="0" * 64,
        status="succeeded",
        flags=flags,
        probabilities={k: 0.9 if v else 0.1 for k, v in flags.items()},
    )


@pytest.fixture
def month():
    return MARCH
