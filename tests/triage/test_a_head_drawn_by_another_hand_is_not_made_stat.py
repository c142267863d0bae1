"""The report that opened issue 12, replayed: a head CT drawn by hand, with none of our
generators' code (24 axial 256 x 256 slices, an ellipsoid skull about 1100 HU with noise,
brain 34 HU, two ventricles 7 HU), went STAT every time with version 1.

These heads were written from that description for this test, after version 2 was trained;
nothing was tuned on them. The issue's own drawing is not in the repository, and version 1
happens to leave these four normal heads unflagged too (p 0.04-0.07, version 2 0.32-0.42 below
its threshold 0.575), so this is a guard against the report coming back, not the proof that
it went: that is the shifted families' table in the model card. The shipped head model must
leave the four normal heads unflagged and flag the same heads with a bleed (an
intraparenchymal blob, an epidural lens).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.triage.series import hu_series
from triage.core.package import load_package
from triage.core.pipeline import run_model

PACKAGE = Path(__file__).resolve().parents[2] / "triage" / "packages" / "head-ct-ich"


def hand_drawn_head(seed: int, bleed: str | None = None) -> list:
    rng = np.random.default_rng(seed)
    n, s = 256, 24
    z, y, x = np.mgrid[0:s, 0:n, 0:n].astype(np.float32)
    cz, cy, cx = s / 2, n / 2 + rng.uniform(-8, 8), n / 2 + rng.uniform(-8, 8)
    a, b, c = 95 + rng.uniform(-5, 5), 78 + rng.uniform(-5, 5), 14.0
    r = np.sqrt(((y - cy) / a) ** 2 + ((x - cx) / b) ** 2 + ((z - cz) / c) ** 2)
    hu = np.full((s, n, n), -1000.0, np.float32)
    hu[r < 1.0] = 1100 + rng.normal(0, 40, int((r < 1.0).sum()))
    inside = r < 0.92
    hu[inside] = 34
    for side in (-1, 1):
        ventricle = ((y - cy + 5) / 22) ** 2 + ((x - cx - side * 9) / 6) ** 2 + ((z - cz) / 5) ** 2
        hu[(ventricle < 1) & inside] = 7
    if bleed == "blob":
        blob = ((z - cz - 2) / 2.5) ** 2 + ((y - cy + 30) / 14) ** 2 + ((x - cx - 35) / 11) ** 2
        hu[(blob < 1) & inside] = 65
    elif bleed == "lens":
        hu[(r > 0.86) & (r < 0.92) & (x > cx + 30) & (np.abs(z - cz) < 5)] = 70
    hu += rng.normal(0, 4, hu.shape).astype(np.float32)
    return hu_series(hu, (5.0, 0.9, 0.9), PatientID="HANDDRAWN")


@pytest.fixture(scope="module")
def model():
    return load_package(PACKAGE)


def _flagged(model, series) -> bool:
    outcome = run_model(model, [series])
    assert outcome.status == "succeeded", outcome.reason
    return any(outcome.flags.values())


@pytest.mark.parametrize("seed", range(4))
def test_a_hand_drawn_normal_head_is_not_flagged(model, seed):
    assert not _flagged(model, hand_drawn_head(seed))


@pytest.mark.parametrize("bleed", ["blob", "lens"])
def test_the_same_head_with_a_bleed_is_flagged(model, bleed):
    assert _flagged(model, hand_drawn_head(0, bleed))
