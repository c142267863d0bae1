"""A seed replays a study byte for byte; another seed draws another study."""

from __future__ import annotations

import numpy as np
import pytest

from tests.triage.validation.draws import ALL, drawn
from triage.core.validation.families import FAMILIES

IDENTIFIERS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "PatientID")


@pytest.mark.parametrize(("task", "family"), ALL)
def test_a_seed_replays_the_same_pixels_and_identifiers(task, family):
    cached = drawn(task, family, 1, True)
    again = FAMILIES[task][family].draw(np.random.default_rng(1), positive=True)
    assert [ds.PixelData for ds in again.datasets] == [ds.PixelData for ds in cached.datasets]
    for keyword in IDENTIFIERS:
        assert [ds.get(keyword) for ds in again.datasets] == [
            ds.get(keyword) for ds in cached.datasets
        ]
    assert again.finding == cached.finding
    assert again.parameters == cached.parameters


@pytest.mark.parametrize(("task", "family"), ALL)
def test_a_positive_and_a_negative_of_one_seed_never_share_a_uid(task, family):
    positive, negative = drawn(task, family, 1, True), drawn(task, family, 1, False)
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        ours = {ds.get(keyword) for ds in positive.datasets}
        assert not ours & {ds.get(keyword) for ds in negative.datasets}


@pytest.mark.parametrize("family", ["geometric", "detector"])
def test_another_seed_draws_another_study(family):
    one = drawn("cxr-pneumothorax", family, 1, True)
    other = FAMILIES["cxr-pneumothorax"][family].draw(np.random.default_rng(2), positive=True)
    assert other.datasets[0].StudyInstanceUID != one.datasets[0].StudyInstanceUID
    assert other.datasets[0].PixelData != one.datasets[0].PixelData
