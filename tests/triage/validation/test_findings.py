"""Positives hold the finding their record describes, where their mask says; negatives hold
none: a negative is its positive twin (same seed) without the finding."""

from __future__ import annotations

import numpy as np
import pytest

from tests.triage.validation.draws import CHEST, HEAD, drawn, grow, hounsfield, shown
from triage.core.validation import chest_detector
from triage.core.validation.families import FAMILIES

# Seeds whose positive holds each bleed type (the same for both families: the type is the
# first thing drawn from the finding's stream). 7 is a thin (about 3 mm) subdural in both.
BLEEDS = {
    "epidural": 10,
    "subdural": 7,
    "intraparenchymal": 1,
    "subarachnoid": 6,
    "intraventricular": 3,
}


def _volume_ml(mask: np.ndarray, ordered) -> float:
    """Mask volume from the headers alone: pixel spacing and slice positions along the normal."""
    row, column = np.array(ordered[0].ImageOrientationPatient, float).reshape(2, 3)
    normal = np.cross(row, column)
    positions = [float(np.dot(np.array(ds.ImagePositionPatient, float), normal)) for ds in ordered]
    spacing = float(np.median(np.diff(positions)))
    pixel = [float(v) for v in ordered[0].PixelSpacing]
    return float(mask.sum()) * pixel[0] * pixel[1] * spacing / 1000.0


@pytest.mark.parametrize(("kind", "seed"), BLEEDS.items())
@pytest.mark.parametrize("family", HEAD)
def test_a_bleed_is_acute_blood_where_its_mask_is_and_of_the_volume_recorded(family, kind, seed):
    study = FAMILIES["head-ct-ich"][family].draw(np.random.default_rng(seed), positive=True)
    assert study.finding["type"] == kind
    assert study.finding["side"] in ("left", "right", "bilateral")
    hu, ordered = hounsfield(study.datasets)
    mask = study.masks["finding"]
    assert mask.shape == hu.shape
    # The median, not the mean: a subdural's edge voxels share their volume with the skull.
    median = float(np.median(hu[mask]))
    assert 40 <= median <= 100
    assert median == pytest.approx(study.finding["hu"], abs=15)
    assert study.finding["volume_ml"] >= 1.4
    assert _volume_ml(mask, ordered) == pytest.approx(study.finding["volume_ml"], rel=0.2)


@pytest.mark.parametrize("family", HEAD)
def test_a_negative_head_is_its_positive_twin_without_the_bleed(family):
    positive, negative = (
        drawn("head-ct-ich", family, 1, True),
        drawn("head-ct-ich", family, 1, False),
    )
    assert negative.finding == {"type": "none"}
    assert negative.masks == {}
    with_bleed, ordered = hounsfield(positive.datasets)
    without, _ = hounsfield(negative.datasets)
    differs = np.abs(with_bleed - without) > 0.5
    assert differs.any()
    # Within a centimetre of the bleed (partial volume, interpolation, motion), nowhere else.
    near = grow(positive.masks["finding"], round(10 / float(ordered[0].PixelSpacing[0])), 2)
    assert not (differs & ~near).any()


def _bands(study, millimetres: float = 5.0, gap: float = 1.5):
    """Pixels on either side of the visceral pleural line: pleural air within ``millimetres``
    of the lung (and not against the chest wall), lung within ``millimetres`` of the air; the
    line itself (``gap``) left out."""
    air, lung = study.masks["finding"], study.masks["lung"]
    pixel = study.parameters["pixel_mm"]
    far, near = round(millimetres / pixel), round(gap / pixel)
    wall = grow(~(air | lung), round(4 / pixel))
    outside = air & grow(lung, far) & ~grow(lung, near) & ~wall
    inside = lung & grow(air, far) & ~grow(air, near)
    return outside, inside


@pytest.mark.parametrize("family", CHEST)
def test_a_pneumothorax_is_more_lucent_than_the_lung_that_was_there(family):
    positive = drawn("cxr-pneumothorax", family, 1, True)
    negative = drawn("cxr-pneumothorax", family, 1, False)
    air = positive.masks["finding"]
    assert positive.finding["type"] == "pneumothorax"
    assert 0 < positive.finding["area_fraction"] < 1
    assert shown(positive.datasets[0])[air].mean() < shown(negative.datasets[0])[air].mean() - 0.02


@pytest.mark.parametrize("family", CHEST)
def test_a_pneumothorax_is_more_lucent_than_the_lung_across_its_pleural_line(family):
    # Ribs, clavicles and scapulae cross the line too; over ten positives (all three patterns)
    # the air side is the darker one in nine at least, and in every flat-valued one.
    darker = 0
    patterns = set()
    for seed in range(20, 30):
        study = FAMILIES["cxr-pneumothorax"][family].draw(
            np.random.default_rng(seed), positive=True
        )
        patterns.add(study.finding["pattern"])
        outside, inside = _bands(study)
        image = shown(study.datasets[0])
        darker += image[outside].mean() < image[inside].mean()
    assert patterns == {"apical", "lateral", "large"}
    assert darker >= (10 if family == "geometric" else 9)


def test_the_detector_leaves_no_lung_markings_in_the_pleural_air():
    # The thickness map of one chest with its vessel trees and without them: in the pleural air
    # they are the same (no markings beyond the line), in the collapsed lung they are not.
    rng = np.random.default_rng(4)
    film = chest_detector._film(rng)
    patient = chest_detector._patient(rng, film.rows * film.pixel)
    for side, lung in patient.lungs.items():
        patient.vessels[side] = chest_detector._vessels(rng, lung)
    ptx = chest_detector._pneumothorax(rng, patient)
    marked, masks = chest_detector._tissue(patient, film, ptx)
    patient.vessels = {}
    bare, _ = chest_detector._tissue(patient, film, ptx)
    air, lung = masks["finding"], masks["lung"]
    assert air.any()
    assert np.array_equal(marked[air], bare[air])
    assert (marked[lung] > bare[lung] + 0.5).mean() > 0.1


@pytest.mark.parametrize("family", CHEST)
def test_a_negative_radiograph_is_its_positive_twin_without_the_pneumothorax(family):
    positive = drawn("cxr-pneumothorax", family, 1, True)
    negative = drawn("cxr-pneumothorax", family, 1, False)
    assert negative.finding == {"type": "none"}
    assert negative.masks == {}
    differs = np.abs(shown(positive.datasets[0]) - shown(negative.datasets[0])) > 0.02
    assert differs.any()
    # The collapsing lung and its neighbourhood (edge enhancement reaches ~2 cm); scatter
    # changes the rest by less than 2 % of the grey range.
    lung = positive.masks["finding"] | positive.masks["lung"]
    assert not (differs & ~grow(lung, round(25 / positive.parameters["pixel_mm"]))).any()
