"""An enhanced (multi-frame) head CT is read as the slices it holds.

Current scanners can write a whole series as one Enhanced CT instance: the frames share one
header, and each frame's position, orientation, spacing, rescale and type sit in functional
groups instead of at the top. Before, triage refused such a study ("multi-frame (enhanced) CT
is not supported"), so a hospital whose scanner sends them got no AI at all. The instances
here are made from classic slices by highdicom's Legacy Converted Enhanced CT, written to
bytes and read back as a hospital's would be; the model must say of them exactly what it says
of the slices.
"""

from __future__ import annotations

import copy
import io

import numpy as np
import pydicom
import pytest
from highdicom.legacy import LegacyConvertedEnhancedCTImage
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from tests.triage.sending import head_run, send_and_triage
from tests.triage.series import SHIPPED, assert_read_alike, smoke_study
from triage.core.package import load_package
from triage.core.pipeline import run_model
from triage.core.preprocess import (
    CT_HEAD,
    PreprocessError,
    frames_as_slices,
    hounsfield_series,
    require_series,
)


@pytest.fixture(scope="module")
def model():
    return load_package(SHIPPED / "head-ct-ich")


def _smoke_head(*, bleed: bool) -> list[Dataset]:
    return smoke_study("head-ct-ich", positive=bleed)


def _as_received(ds: Dataset) -> Dataset:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    buffer.seek(0)
    return pydicom.dcmread(buffer)


def enhanced(slices: list[Dataset]) -> Dataset:
    """The slices as one Enhanced CT instance of a series of its own, as received."""
    converted = LegacyConvertedEnhancedCTImage(
        slices, series_instance_uid=generate_uid(), series_number=901,
        sop_instance_uid=generate_uid(), instance_number=1,
    )  # fmt: skip
    return _as_received(converted)


@pytest.mark.parametrize("bleed", [True, False])
def test_the_model_says_of_an_enhanced_head_ct_what_it_says_of_its_slices(model, bleed):
    slices = _smoke_head(bleed=bleed)
    instance = enhanced(slices)
    assert int(instance.NumberOfFrames) == len(slices) > 1

    as_slices = run_model(model, [slices])
    as_enhanced = run_model(model, [[instance]])

    assert_read_alike(as_slices, as_enhanced, {"ich": bleed})
    # The run names the one instance it read, once, and the series it belongs to.
    assert as_enhanced.sop_instance_uids == [str(instance.SOPInstanceUID)]
    assert as_enhanced.series_instance_uid == str(instance.SeriesInstanceUID)
    assert f"{len(slices)} instance(s)" in as_enhanced.detail["selection"]


def test_frames_carry_their_own_position_rescale_and_type():
    slices = _smoke_head(bleed=False)[:12]
    # Vendors store HU differently: every slice signed 16-bit, half of them with intercept 0
    # and half with -1000, so each frame carries a rescale of its own.
    for index, ds in enumerate(slices):
        hu = ds.pixel_array.astype(np.int32) * int(ds.RescaleSlope) + int(ds.RescaleIntercept)
        intercept = 0 if index % 2 else -1000
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope, ds.RescaleIntercept = 1, intercept
        ds.PixelData = (hu - intercept).astype(np.int16).tobytes()
    classic_hu, classic_sorted, _, classic_spacing = hounsfield_series(
        [_as_received(ds) for ds in slices]
    )
    instance = enhanced(slices)
    # One frame is a localizer, as its own frame type says.
    frame_type = Dataset()
    frame_type.FrameType = ["ORIGINAL", "PRIMARY", "LOCALIZER", "NONE"]
    instance.PerFrameFunctionalGroupsSequence[5].CTImageFrameTypeSequence = Sequence([frame_type])
    assert "PixelValueTransformationSequence" in instance.PerFrameFunctionalGroupsSequence[0]

    frames = frames_as_slices([instance])
    assert len(frames) == 12
    assert [list(map(float, f.ImagePositionPatient)) for f in frames] == [
        list(map(float, s.ImagePositionPatient))
        for s in sorted(slices, key=lambda s: -float(s.ImagePositionPatient[2]))
    ]
    assert frames[5].ImageType[2] == "LOCALIZER" and frames[4].ImageType[2] != "LOCALIZER"

    selected = require_series([[instance]], CT_HEAD)
    assert len(selected.datasets) == 11
    assert "dropped 1 non-original/localizer instance(s)" in selected.notes
    assert "1 enhanced instance(s) read as 12 frames" in selected.notes

    # Every frame without the localizer gives the HU its classic slice gave.
    hu, _, _, spacing = hounsfield_series([f for f in frames if f is not frames[5]])
    keep = [
        i
        for i, s in enumerate(classic_sorted)
        if float(s.ImagePositionPatient[2]) != float(frames[5].ImagePositionPatient[2])
    ]
    np.testing.assert_array_equal(hu, classic_hu[keep])
    assert spacing[1:] == classic_spacing[1:]


def one_file_volume(slices: list[Dataset]) -> Dataset:
    """The slices as one plain multi-frame CT instance without functional groups, as a volume
    converter or a home-made sender writes a whole volume: the first slice's header, every
    slice's pixels in order from the feet up, and SpacingBetweenSlices."""
    ordered = sorted(slices, key=lambda ds: float(ds.ImagePositionPatient[2]))
    ds = copy.deepcopy(ordered[0])
    ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid()
    ds.NumberOfFrames = len(ordered)
    ds.PixelData = b"".join(s.PixelData for s in ordered)
    steps = np.diff([float(s.ImagePositionPatient[2]) for s in ordered])
    ds.SpacingBetweenSlices = round(float(np.median(steps)), 4)
    return _as_received(ds)


@pytest.mark.parametrize("bleed", [True, False])
def test_a_volume_in_one_plain_multiframe_file_is_read_as_its_slices(model, bleed):
    slices = _smoke_head(bleed=bleed)
    volume = one_file_volume(slices)
    assert "PerFrameFunctionalGroupsSequence" not in volume
    classic, as_one = run_model(model, [slices]), run_model(model, [[volume]])
    assert_read_alike(classic, as_one, {"ich": bleed})
    assert any(
        n.startswith("frames without per-frame positions stacked") for n in as_one.detail["notes"]
    )


def test_a_multiframe_ct_that_does_not_say_where_its_frames_lie_is_refused_with_the_reason():
    volume = one_file_volume(_smoke_head(bleed=False))
    del volume.ImagePositionPatient
    with pytest.raises(PreprocessError, match="without per-frame positions"):
        hounsfield_series([volume])


@pytest.fixture
def shipped_models(settings):
    settings.TRIAGE_MODEL_DIRS = [str(SHIPPED)]


def test_an_enhanced_head_ct_with_a_bleed_sent_by_c_store_is_flagged_and_escalated(
    orthanc, hospital_a, manager, shipped_models, tmp_path
):
    study = send_and_triage([enhanced(_smoke_head(bleed=True))], orthanc, tmp_path)
    assert study.instance_count == 1
    data, ich = head_run(manager, study)
    assert ich["status"] == "succeeded", ich["reason"]
    assert ich["flags"] == {"ich": True}, ich["probabilities"]
    assert data["priority"] == "stat"
