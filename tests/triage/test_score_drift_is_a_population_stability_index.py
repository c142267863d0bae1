"""Score drift: the population stability index of the last day's probabilities against the
version's reference (its first runs, or the card's own reference scores), in deciles of the
reference; hand-checked on small sets, and as the model page and the monitoring read it."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from django.utils import timezone

from tests.triage.monitoring_cast import model_version, record_runs
from triage.monitoring import REFERENCE_RUNS, model_versions_monitoring, population_stability_index


def test_the_same_distribution_is_stable_and_a_shifted_one_is_a_major_shift():
    reference = [i / 100 for i in range(100)]
    same, table = population_stability_index(reference, reference)
    assert same == pytest.approx(0.0)
    assert [round(e, 2) for _, e, _ in table] == [0.1] * 10
    shifted, _ = population_stability_index(reference, [min(0.99, v + 0.3) for v in reference])
    assert shifted > 0.25


def test_it_matches_a_hand_computation_on_two_bins():
    # Reference: half at 0.1, half at 0.9 -> cuts at 0.1 and 0.9: bins (-inf, 0.1], (0.1, 0.9]
    # and (0.9, inf), the last one empty on both sides (a tiny share each, adding nothing).
    reference = [0.1] * 50 + [0.9] * 50
    current = [0.1] * 20 + [0.9] * 80
    psi, table = population_stability_index(reference, current)
    assert table == [(0.1, 0.5, 0.2), (0.9, 0.5, 0.8), (None, 1e-4, 1e-4)]
    assert psi == pytest.approx((0.2 - 0.5) * math.log(0.2 / 0.5) + (0.8 - 0.5) * math.log(1.6))


def test_a_bin_empty_today_counts_as_a_tiny_share_not_an_infinite_index():
    psi, table = population_stability_index([0.1] * 50 + [0.9] * 50, [0.9] * 60)
    assert table[0][2] == pytest.approx(1e-4) and math.isfinite(psi) and psi > 0.25


@pytest.mark.django_db
def test_the_reference_is_the_first_runs_once_there_are_enough(hospital_a):
    now = timezone.now()
    version = model_version()
    record_runs(version, hospital_a, at=now - dt.timedelta(days=5), total=150, scores=[0.02] * 150)
    [m] = model_versions_monitoring(now=now)
    assert m.drift[0].psi is None
    assert m.drift[0].note == f"collecting the reference: 150 of {REFERENCE_RUNS} runs"

    record_runs(version, hospital_a, at=now - dt.timedelta(days=4), total=50, scores=[0.02] * 50)
    record_runs(version, hospital_a, at=now - dt.timedelta(hours=2), total=60, flagged=40)
    [m] = model_versions_monitoring(now=now)
    [drift] = m.drift
    # The first 200 runs (all near zero) are the reference; today 40 of 60 score 0.9.
    assert (drift.source, drift.reference_n, drift.current_n) == ("first runs", 200, 60)
    assert drift.level == "major shift"


@pytest.mark.django_db
def test_a_card_reference_wins_and_too_few_runs_today_are_not_compared(hospital_a):
    now = timezone.now()
    version = model_version(
        monitoring={"expected_positive_rate": 0.08, "min_studies": 20,
                    "reference_scores": {"ich": [0.9] * 10 + [0.02] * 90}},
    )  # fmt: skip
    record_runs(version, hospital_a, at=now - dt.timedelta(hours=1), total=19, flagged=2)
    [m] = model_versions_monitoring(now=now)
    assert m.drift[0].psi is None and "19 runs today" in m.drift[0].note
    record_runs(version, hospital_a, at=now - dt.timedelta(hours=1), total=11, flagged=1)
    [m] = model_versions_monitoring(now=now)
    assert (m.drift[0].source, m.drift[0].reference_n) == ("card", 100)
    assert m.drift[0].level == "stable"  # 3 of 30 high, as 10 of 100 in the card
