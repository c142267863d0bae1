"""The seam with the reports app: signing a draft through its own service (password and all)
raises the critical results; a preliminary and the final that repeats it raise one."""

from __future__ import annotations

import pytest

from readingcenter.critical.models import CriticalResult
from readingcenter.critical.selectors import critical_results_for_report
from readingcenter.reports.models import Report
from readingcenter.reports.services import report_open_draft, report_save, report_sign
from readingcenter.worklist.services import case_claim
from tests.critical.conftest import BLEED, NODULE
from tests.factories import make_case

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"


def _fill_and_sign(report, radiologist, *, findings, kind):
    report = report_save(
        report_id=report.pk,
        user=radiologist,
        revision=report.revision,
        changes={
            "impression": "; ".join(f["finding"] for f in findings),
            "critical_findings": findings,
            "ai_review": {e["finding"]: "accepted" for e in report.ai_draft},
        },
    )
    return report_sign(report_id=report.pk, user=radiologist, password=PASSWORD, kind=kind)


def test_signing_a_preliminary_then_its_final_raises_each_finding_once(
    hospital_a, radiologist, contacts_a
):
    case = make_case(hospital_a, modalities=["CT"], study_description="CT HEAD")
    case_claim(case_id=case.pk, user=radiologist)
    draft = report_open_draft(case_id=case.pk, user=radiologist)
    preliminary = _fill_and_sign(draft, radiologist, findings=[BLEED], kind="preliminary")
    [bleed] = CriticalResult.objects.all()
    assert (bleed.report_id, bleed.category, bleed.state) == (preliminary.pk, "minutes", "open")

    final_draft = Report.objects.get(case=case, state="draft")
    final = _fill_and_sign(final_draft, radiologist, findings=[BLEED, NODULE], kind="final")
    assert CriticalResult.objects.count() == 2
    assert [r.finding for r in critical_results_for_report(report=final)] == [
        BLEED["finding"],
        NODULE["finding"],
    ]
