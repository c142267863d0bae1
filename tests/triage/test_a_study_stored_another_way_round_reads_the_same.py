"""A study stored another way round reads as the usual one.

The models were trained on images as they are displayed: axial CT with columns toward the
patient's left and rows toward the back, chest films with the patient's right on the viewer's
left and the head up. Scanners and detectors write the same patient other ways round (a head
feet first or prone, rows and columns exchanged; a film mirrored, upside down or on its side)
and say so in ImageOrientationPatient or PatientOrientation; the pixels are brought to the
display orientation before the model sees them, so the model says the same of the same
patient, however the pixels were stored.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from pydicom.uid import generate_uid

from tests.triage.series import SHIPPED, assert_read_alike, smoke_study
from triage.core.package import load_package
from triage.core.pipeline import run_model
from triage.core.preprocess import hounsfield_series


@pytest.fixture(scope="module")
def model():
    return load_package(SHIPPED / "head-ct-ich")


def _smoke_head(*, bleed: bool) -> list:
    return smoke_study("head-ct-ich", positive=bleed)


def stored(slices: list, way: str) -> list:
    """The same head, its pixels and geometry written another way round (LPS, mm)."""
    out = []
    for ds in slices:
        assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
        pixels = ds.pixel_array
        rows, cols = pixels.shape
        row_mm, col_mm = (float(v) for v in ds.PixelSpacing)
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        copied = copy.deepcopy(ds)
        if way == "feet first":  # the image's columns run toward the patient's right
            pixels, orientation = pixels[:, ::-1], [-1, 0, 0, 0, 1, 0]
            position = [x + (cols - 1) * col_mm, y, z]
        elif way == "prone":  # upside down: toward the right and toward the front
            pixels, orientation = pixels[::-1, ::-1], [-1, 0, 0, 0, -1, 0]
            position = [x + (cols - 1) * col_mm, y + (rows - 1) * row_mm, z]
        else:  # "transposed": columns step toward the back, rows toward the left
            pixels, orientation = pixels.T, [0, 1, 0, 1, 0, 0]
            position = [x, y, z]
            copied.PixelSpacing = [col_mm, row_mm]
        copied.PixelData = np.ascontiguousarray(pixels).tobytes()
        copied.ImageOrientationPatient = orientation
        copied.ImagePositionPatient = position
        out.append(copied)
    return out


@pytest.mark.parametrize("way", ["feet first", "prone", "transposed"])
def test_the_volume_is_brought_to_the_display_orientation(way):
    usual = _smoke_head(bleed=True)
    hu, slices, _, spacing = hounsfield_series(usual)
    other_hu, other_slices, notes, other_spacing = hounsfield_series(stored(usual, way))
    np.testing.assert_array_equal(other_hu, hu)
    assert other_spacing == pytest.approx(spacing)
    # The slices are listed in the volume's order: from the feet up, as the usual ones.
    assert [float(s.ImagePositionPatient[2]) for s in other_slices] == [
        float(s.ImagePositionPatient[2]) for s in slices
    ]
    assert any(note.startswith("stored other than the standard axial display") for note in notes)
    assert not any("standard axial display" in note for note in hounsfield_series(usual)[2])


@pytest.mark.parametrize("bleed", [True, False])
@pytest.mark.parametrize("way", ["feet first", "prone", "transposed"])
def test_the_model_says_the_same_of_the_head_however_it_was_stored(model, way, bleed):
    usual = _smoke_head(bleed=bleed)
    as_usual, other = run_model(model, [usual]), run_model(model, [stored(usual, way)])
    assert_read_alike(as_usual, other, {"ich": bleed})


def film(ds, way: str):
    """The same chest film, its pixels and PatientOrientation written another way round."""
    assert [str(v) for v in ds.PatientOrientation] == ["L", "F"]
    copied = copy.deepcopy(ds)
    pixels = ds.pixel_array
    if way == "mirrored":
        pixels, orientation = pixels[:, ::-1], ["R", "F"]
    elif way == "upside down":
        pixels, orientation = pixels[::-1, :], ["L", "H"]
    else:  # "on its side": rows and columns exchanged
        pixels, orientation = pixels.T, ["F", "L"]
        copied.Rows, copied.Columns = ds.Columns, ds.Rows
    copied.PixelData = np.ascontiguousarray(pixels).tobytes()
    copied.PatientOrientation = orientation
    return copied


@pytest.fixture(scope="module")
def chest_model():
    return load_package(SHIPPED / "cxr-pneumothorax")


@pytest.mark.parametrize("positive", [True, False])
@pytest.mark.parametrize("way", ["mirrored", "upside down", "on its side"])
def test_the_chest_model_says_the_same_of_a_film_however_it_was_stored(chest_model, way, positive):
    usual = smoke_study("cxr-pneumothorax", positive=positive)
    assert len(usual) == 1
    as_usual = run_model(chest_model, [usual])
    other = run_model(chest_model, [[film(usual[0], way)]])
    assert_read_alike(as_usual, other, {"pneumothorax": positive})
    assert any(note.startswith("PatientOrientation") for note in other.detail["notes"])


@pytest.mark.parametrize("bleed", [True, False])
def test_a_head_whose_every_slice_is_a_series_of_its_own_reads_as_one_series(model, bleed):
    # A sender (a converter, a script, a PACS exporting slice by slice) that gives every slice
    # a SeriesInstanceUID of its own: forty series of one image, none of which a model reads.
    usual = _smoke_head(bleed=bleed)
    split = []
    for ds in usual:
        copied = copy.deepcopy(ds)
        copied.SeriesInstanceUID = generate_uid()
        split.append([copied])
    as_usual, as_split = run_model(model, [usual]), run_model(model, split)
    assert_read_alike(as_usual, as_split, {"ich": bleed})
    assert any("single-image series" in n for n in as_split.detail["notes"])
    assert len(as_split.sop_instance_uids) == len(usual)
    # Read as one series, they are not also listed as forty series refused for one image each.
    assert as_split.detail["rejected"] == as_usual.detail["rejected"] == []
    # The slices themselves are untouched: each keeps its own series.
    assert len({str(s[0].SeriesInstanceUID) for s in split}) == len(usual)
