"""Input checks: a model speaks only about images like those it was validated on.

The heads here are drawn in the test itself (flat ellipses: skull, brain, ventricles), written
as real DICOM series and sent through the worker's own preparation (``prepare_input``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch
from pydicom.dataset import Dataset

from tests.triage.series import hu_series
from triage.core.outcome import FindingResult, RunOutcome
from triage.core.package import InputSpec, Window
from triage.core.pipeline import prepare_input
from triage.core.preprocess import WINDOWS, prepare_radiograph
from triage.core.quality import (
    LOW_CONFIDENCE,
    NOT_APPLICABLE,
    contrast_problem,
    radiograph_checks,
    verdict,
)

HEAD = InputSpec(
    kind="ct-volume",
    size=64,
    channels=3,
    windows=tuple(Window(*WINDOWS[w], name=w) for w in ("brain", "subdural", "bone")),
    slices=24,
    extra={"framing": "head"},
)
SPACING = (5.0, 0.9, 0.9)


SHARED = Path(__file__).resolve().parents[3] / "shared" / "dicom"


def cartoon_head(
    slices: int = 24, size: int = 256, *, brain_hu: float = 34.0, skull_hu: float = 1100.0
) -> np.ndarray:
    rng = np.random.default_rng(1)
    z = np.linspace(-0.9, 0.9, slices)[:, None, None]
    y, x = np.mgrid[-1 : 1 : size * 1j, -1 : 1 : size * 1j]
    r = (x / 0.62) ** 2 + (y / 0.78) ** 2 + z**2
    hu = np.full((slices, size, size), -1000.0, np.float32)
    hu[r < 1.0] = skull_hu
    hu[r < 0.85] = brain_hu
    ventricles = ((np.abs(x) - 0.1) / 0.06) ** 2 + (y / 0.3) ** 2 + (z / 0.4) ** 2 < 1
    hu[ventricles & (r < 0.85)] = 7.0
    return hu + rng.normal(0, 4, hu.shape).astype(np.float32)


def codes(checks) -> list[str]:
    return [c.code for c in checks]


def test_a_plain_head_passes_every_check():
    _, checks = prepare_input(HEAD, hu_series(cartoon_head(), SPACING))
    assert checks == []


def test_a_volume_of_air_is_not_a_head():
    air = np.full((24, 128, 128), -1000.0, np.float32)
    _, checks = prepare_input(HEAD, hu_series(air, SPACING))
    assert codes(checks) == ["no_head"]
    assert checks[0].severity == NOT_APPLICABLE


@pytest.mark.parametrize(
    "header",
    [
        {"ContrastBolusAgent": "Omnipaque 350"},
        {"SeriesDescription": "CTA HEAD"},
        {"StudyDescription": "CT HEAD WITH CONTRAST"},
    ],
)
def test_a_contrast_study_is_not_for_a_non_contrast_model(header):
    _, checks = prepare_input(HEAD, hu_series(cartoon_head(), SPACING, **header))
    assert "contrast" in codes(checks)
    assert verdict(checks)[0] == NOT_APPLICABLE


@pytest.mark.parametrize(
    ("description", "contrast"),
    [
        ("뇌 CT 조영증강", True),  # Seoul: brain CT, contrast-enhanced
        ("Brain CT 조영후", True),  # after contrast
        ("뇌혈관조영 CT", True),  # CT angiography
        ("头颅CT增强", True),  # Guangzhou: head CT, enhanced
        ("颅脑CTA血管成像", True),
        ("頭部造影CT", True),  # Japanese: contrast head CT
        ("뇌 CT 조영전", False),  # before contrast
        ("뇌 CT 비조영", False),  # without contrast
        ("头颅CT平扫", False),  # plain scan
        ("頭部単純CT", False),
        # English words that end in a sign, at the end of the description.
        ("HEAD C+", True),
        ("AX 5mm C+", True),
        ("HEAD C-", False),
        ("CT HEAD C+C-", False),  # with and without: the series decides
    ],
)
def test_a_contrast_study_is_recognised_in_korean_chinese_and_japanese(description, contrast):
    ds = Dataset()
    ds.StudyDescription = description
    assert bool(contrast_problem(ds)) is contrast


def test_a_non_contrast_description_is_not_mistaken_for_contrast():
    ds = Dataset()
    ds.SeriesDescription = "CT HEAD WITHOUT CONTRAST"
    assert contrast_problem(ds) == ""
    ds.SeriesDescription = "HEAD W/O"
    assert contrast_problem(ds) == ""


def test_too_few_slices_for_what_was_validated_is_low_confidence():
    _, checks = prepare_input(HEAD, hu_series(cartoon_head(slices=10), (12.0, 0.9, 0.9)))
    assert "slice_count" in codes(checks)
    assert all(c.severity == LOW_CONFIDENCE for c in checks)
    assert "validated on" in checks[0].message


def test_pixels_that_are_not_hounsfield_units_are_low_confidence():
    # Stored values read as modality values: no intercept, so air reads 0 and bone 2100.
    hu = cartoon_head() + 1024.0
    _, checks = prepare_input(HEAD, hu_series(hu, SPACING, intercept=0.0))
    assert codes(checks) == ["hu_distribution"]
    assert "Hounsfield" in checks[0].message


def test_a_brain_far_from_the_reference_hu_is_low_confidence():
    _, checks = prepare_input(HEAD, hu_series(cartoon_head(brain_hu=58.0), SPACING))
    assert "hu_distribution" in codes(checks)


def test_a_head_with_nothing_in_the_brain_window_is_low_confidence():
    _, checks = prepare_input(HEAD, hu_series(cartoon_head(brain_hu=400.0), SPACING))
    assert codes(checks) == ["no_brain_window_content"]


def test_a_small_calibration_offset_is_corrected_not_refused():
    prepared, checks = prepare_input(HEAD, hu_series(cartoon_head(brain_hu=42.0), SPACING))
    assert checks == []
    assert any("HU shifted by" in note for note in prepared.notes)


def _radiograph(view: str = "PA", matrix: int = 2048) -> Dataset:
    ds = Dataset()
    ds.ViewPosition = view
    ds.Rows = ds.Columns = matrix
    return ds


def test_a_lateral_chest_film_is_not_for_a_frontal_model():
    image = np.random.default_rng(0).uniform(0, 1, (1, 128, 128)).astype(np.float32)
    checks = radiograph_checks(_radiograph("LL"), image)
    assert "view" in codes(checks)
    assert verdict(checks)[0] == NOT_APPLICABLE


@pytest.mark.parametrize(
    ("description", "lateral"),
    [("CHEST LAT", True), ("Chest Lateral", True), ("흉부 측면", True), ("胸部侧位", True),
     ("CHEST PA", False), ("흉부 정면", False), ("PLATE 2", False)],
)  # fmt: skip
def test_a_film_without_view_position_is_a_lateral_if_its_description_says_so(description, lateral):
    image = np.random.default_rng(0).uniform(0, 1, (1, 512, 512)).astype(np.float32)
    ds = _radiograph("", matrix=512)
    ds.SeriesDescription = description
    checks = radiograph_checks(ds, image)
    assert ("view" in codes(checks)) is lateral
    if lateral:
        assert verdict(checks)[0] == NOT_APPLICABLE and "lateral film" in verdict(checks)[1]


def test_a_film_without_view_position_is_a_lateral_if_its_view_code_says_so():
    image = np.random.default_rng(0).uniform(0, 1, (1, 512, 512)).astype(np.float32)
    ds = _radiograph("", matrix=512)
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "R-10236", "SRT", "left lateral"
    ds.ViewCodeSequence = [code]
    assert "view" in codes(radiograph_checks(ds, image))


def test_a_blank_radiograph_is_not_read():
    checks = radiograph_checks(_radiograph(), np.zeros((1, 512, 512), np.float32))
    assert codes(checks) == ["blank"]


def test_a_radiograph_without_lucent_lungs_is_low_confidence():
    checks = radiograph_checks(
        _radiograph(), np.linspace(0.6, 0.9, 512 * 512, dtype=np.float32).reshape(1, 512, 512)
    )
    assert codes(checks) == ["no_lung_fields"]


def test_lungs_are_found_under_a_vendors_window_that_leaves_them_grey():
    """GDCM's real chest CR, presented through its header window, has lungs at about 0.4:
    lucent next to its mediastinum and spine, though not on a fixed scale."""
    ds = pydicom.dcmread(SHARED / "cr-chest" / "gdcm-CR-MONO1-10-chest.dcm")
    presented = prepare_radiograph(ds, size=256).array
    assert float(np.median(presented[..., 100:160, 40:90])) > 0.35  # a right lung, grey
    assert "no_lung_fields" not in codes(radiograph_checks(ds, presented))
    # The same film without its lungs (every pixel raised to the mediastinum's level) has none.
    flat = np.maximum(presented, np.float32(np.percentile(presented, 90)))
    assert codes(radiograph_checks(ds, flat)) == ["no_lung_fields"]


def test_a_tiny_radiograph_is_low_confidence_whatever_the_model_input_size():
    image = np.random.default_rng(0).uniform(0, 1, (1, 128, 128)).astype(np.float32)
    assert codes(radiograph_checks(_radiograph(matrix=200), image)) == ["matrix"]
    assert codes(radiograph_checks(_radiograph(matrix=2000), image)) == []


def test_not_applicable_wins_over_low_confidence_and_reasons_are_joined():
    checks = radiograph_checks(_radiograph("LL", matrix=64), np.zeros((1, 64, 64), np.float32))
    status, reason = verdict(checks)
    assert status == NOT_APPLICABLE
    assert "ViewPosition LL" in reason and "blank" in reason
    assert "matrix" not in reason  # the low-confidence reasons are not shown then


def test_a_low_confidence_run_keeps_its_scores_and_flags_nothing():
    outcome = RunOutcome(
        model_name="m",
        model_version="2.0.0",
        weights_sha256="0" * 64,
        status=LOW_CONFIDENCE,
        findings=[FindingResult("ich", "intracranial hemorrhage", 0.97, 0.3)],
    )
    assert outcome.probabilities == {"ich": 0.97}
    assert outcome.flags == {"ich": False}
    outcome.status = "succeeded"
    assert outcome.flags == {"ich": True}


def test_the_framed_input_has_the_cards_shape_whatever_the_series():
    prepared, _ = prepare_input(HEAD, hu_series(cartoon_head(slices=40, size=512), SPACING))
    assert prepared.array.shape == (24, 3, 64, 64)
    assert torch.from_numpy(prepared.array).isfinite().all()
