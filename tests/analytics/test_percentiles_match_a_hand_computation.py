"""TAT percentiles are PostgreSQL's percentile_cont over minutes from arrival: the same
linear interpolation as a hand computation on the sorted values."""

from __future__ import annotations

import pytest

from readingcenter.analytics.selectors import Filters, tat_breakdown
from tests.analytics.conftest import MARCH, at, signed_case


def by_hand(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (what percentile_cont does)."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@pytest.fixture
def five_cases(hospital_a, hospital_b, radiologist):
    # Alpha: 10, 20, 30, 40, 100 minutes (two with preliminaries at 5 and 15); Beta: 200.
    tats = [10, 20, 30, 40, 100]
    for i, tat in enumerate(tats):
        signed_case(hospital_a, arrived=at(10 + i, 2), tat=tat, reader=radiologist,
                    preliminary={0: 5, 1: 15}.get(i))  # fmt: skip
    signed_case(hospital_b, arrived=at(20, 2), tat=200, reader=radiologist, modality="MR")
    return tats


def test_the_hospital_percentiles_are_the_hand_computed_ones(manager, five_cases):
    tat = tat_breakdown(user=manager, period=MARCH, filters=Filters(hospital="alpha"))
    assert tat.overall.count == 5
    assert tat.overall.final_p50 == pytest.approx(by_hand(five_cases, 0.5)) == 30
    assert tat.overall.final_p90 == pytest.approx(by_hand(five_cases, 0.9)) == 76
    assert tat.overall.final_p95 == pytest.approx(by_hand(five_cases, 0.95)) == 88


def test_preliminary_percentiles_count_only_cases_that_had_one(manager, five_cases):
    tat = tat_breakdown(user=manager, period=MARCH, filters=Filters(hospital="alpha"))
    assert tat.overall.preliminary_count == 2
    assert tat.overall.preliminary_p50 == 10  # between 5 and 15
    assert tat.overall.preliminary_p90 == pytest.approx(by_hand([5, 15], 0.9))


def test_each_dimension_has_its_own_percentiles(manager, five_cases, radiologist):
    tat = tat_breakdown(user=manager, period=MARCH)
    hospitals = {r.key: r for r in tat.by_hospital}
    assert hospitals["alpha"].final_p50 == 30 and hospitals["alpha"].label == "Alpha Regional"
    assert hospitals["beta"].final_p50 == 200 and hospitals["beta"].count == 1
    modalities = {r.key: r.count for r in tat.by_modality}
    assert modalities == {"CT": 5, "MR": 1}
    assert [(r.key, r.count) for r in tat.by_priority] == [("routine", 6)]
    assert [(r.key, r.count) for r in tat.by_radiologist] == [(str(radiologist.id), 6)]
    everything = [*five_cases, 200]
    assert tat.overall.final_p95 == pytest.approx(by_hand(everything, 0.95))
