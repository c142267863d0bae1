"""AI against the signed reports, per model name and version: kept or edited sentences are
confirmed flags, removed ones are not; mean similarity is how much of the draft survived; a
critical finding on a study the model raised no flag for counts as missed by that model."""

from __future__ import annotations

import pytest

from readingcenter.analytics.selectors import ai_performance
from tests.analytics.conftest import MARCH, at, final_report, signed_case, triage_run


def sentence(finding, model, version, outcome, similarity):
    return {"finding": finding, "model_name": model, "model_version": version,
            "review": "accepted", "outcome": outcome, "similarity": similarity}  # fmt: skip


def draft(finding, model, version):
    return {"finding": finding, "sentence": f"{finding}.", "model_name": model,
            "model_version": version, "probability": 0.9}  # fmt: skip


BLEED = {"finding": "Acute subdural haematoma", "category": "minutes"}


@pytest.fixture
def reports(hospital_a, radiologist):
    c1 = signed_case(hospital_a, arrived=at(5, 1), tat=30, reader=radiologist)
    final_report(c1, ai_draft=[draft("ich", "head-ct", "1.0"), draft("mls", "head-ct", "1.0")],
                 ai_acceptance=[sentence("ich", "head-ct", "1.0", "kept", 1.0),
                                sentence("mls", "head-ct", "1.0", "edited", 0.8)],
                 critical_findings=[BLEED])  # fmt: skip
    triage_run(c1, model="head-ct", version="1.0", flags={"ich": True, "mls": True})
    c2 = signed_case(hospital_a, arrived=at(5, 2), tat=30, reader=radiologist)
    final_report(c2, ai_draft=[draft("ich", "head-ct", "1.0")],
                 ai_acceptance=[sentence("ich", "head-ct", "1.0", "removed", 0.2)])  # fmt: skip
    triage_run(c2, model="head-ct", version="1.0", flags={"ich": True})
    c3 = signed_case(hospital_a, arrived=at(5, 3), tat=30, reader=radiologist)
    final_report(c3, ai_draft=[draft("ich", "head-ct", "2.0")],
                 ai_acceptance=[sentence("ich", "head-ct", "2.0", "kept", 1.0)])  # fmt: skip
    triage_run(c3, model="head-ct", version="2.0", flags={"ich": True})
    # A critical finding the model ran on and flagged nothing for: no AI sentence at all.
    c4 = signed_case(hospital_a, arrived=at(5, 4), tat=30, reader=radiologist)
    final_report(c4, critical_findings=[BLEED])
    triage_run(c4, model="head-ct", version="1.0", flags={"ich": False, "mls": False})
    # Outside March: left out.
    c5 = signed_case(hospital_a, arrived=at(31, 23, 59), tat=30, reader=radiologist)
    final_report(c5, ai_acceptance=[sentence("ich", "head-ct", "1.0", "removed", 0.0)])


def test_each_model_version_has_its_own_figures(manager, reports):
    perf = ai_performance(user=manager, period=MARCH)
    rows = {(r.model_name, r.model_version): r for r in perf.rows}
    assert set(rows) == {("head-ct", "1.0"), ("head-ct", "2.0")}
    v1 = rows["head-ct", "1.0"]
    assert (v1.reports, v1.sentences, v1.kept, v1.edited, v1.removed) == (2, 3, 1, 1, 1)
    assert v1.confirmed == 2 and v1.confirmed_rate == pytest.approx(2 / 3)
    assert v1.mean_similarity == pytest.approx((1.0 + 0.8 + 0.2) / 3, abs=1e-3)
    v2 = rows["head-ct", "2.0"]
    assert (v2.sentences, v2.kept, v2.confirmed_rate, v2.mean_similarity) == (1, 1, 1.0, 1.0)


def test_a_critical_finding_without_a_flag_is_counted_against_the_model(manager, reports):
    perf = ai_performance(user=manager, period=MARCH)
    v1 = next(r for r in perf.rows if r.model_version == "1.0")
    assert (v1.critical_studies, v1.critical_unflagged) == (2, 1)
    assert v1.critical_missed_rate == 0.5
    assert (perf.critical_reports, perf.critical_without_ai) == (2, 1)


def test_another_hospitals_user_sees_none_of_it(hospital_user_b, reports):
    perf = ai_performance(user=hospital_user_b, period=MARCH)
    assert perf.rows == [] and perf.critical_reports == 0
