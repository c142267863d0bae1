"""The synthetic studies the hospital simulator sends: anatomy, ground truth and headers.

No Django and no database: the generator is plain numpy and pydicom.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import time
from io import BytesIO

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from pydicom import dcmread, dcmwrite
from pydicom.uid import (
    ComputedRadiographyImageStorage,
    CTImageStorage,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    MRImageStorage,
    RLELossless,
)

from simulator import synthetic as syn

WHEN = dt.datetime(2025, 3, 14, 9, 26, 53)
CT = syn.SCANNERS["CT"]
KOREAN = "Hong^Gildong=洪^吉洞=홍^길동"


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def hu(ds) -> np.ndarray:
    return ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)


def roundtrip(ds):
    buffer = BytesIO()
    dcmwrite(buffer, ds, enforce_file_format=True)
    buffer.seek(0)
    return dcmread(buffer)


def hyperdense_patches(volume_hu: np.ndarray) -> int:
    """5x5 patches, clear of bone, whose mean is blood-like: noise alone never averages there."""
    windows = sliding_window_view(volume_hu, (5, 5), axis=(1, 2))
    return int(((windows.mean(axis=(-1, -2)) > 55) & (windows.max(axis=(-1, -2)) < 150)).sum())


# --------------------------------------------------------------------------------------------
# Reproducibility


def test_the_same_seed_gives_the_same_study_pixels_names_and_uids():
    a = syn.make_study("head-ct", rng=rng(7), finding=True, slices=6, study_datetime=WHEN)
    b = syn.make_study("head-ct", rng=rng(7), finding=True, slices=6, study_datetime=WHEN)
    assert a.study_instance_uid == b.study_instance_uid
    assert a.patient_name == b.patient_name
    assert a.accession_number == b.accession_number
    assert [ds.SOPInstanceUID for ds in a.datasets] == [ds.SOPInstanceUID for ds in b.datasets]
    for x, y in zip(a.datasets, b.datasets, strict=True):
        assert x.PixelData == y.PixelData


def test_different_seeds_give_different_uids_and_pixels():
    a = syn.make_study("chest-xr", rng=rng(1), study_datetime=WHEN)
    b = syn.make_study("chest-xr", rng=rng(2), study_datetime=WHEN)
    assert a.study_instance_uid != b.study_instance_uid
    assert a.datasets[0].SOPInstanceUID != b.datasets[0].SOPInstanceUID
    assert a.datasets[0].PixelData != b.datasets[0].PixelData


def test_the_raw_volumes_are_reproducible_from_a_seed():
    a = syn.head_ct_volume(rng(3), slices=6, size=64, bleed=True)
    b = syn.head_ct_volume(rng(3), slices=6, size=64, bleed=True)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.mask, b.mask)


# --------------------------------------------------------------------------------------------
# Head CT anatomy and ground truth


def test_a_head_ct_has_air_outside_bone_around_and_brain_inside_in_hounsfield_units():
    datasets = syn.head_ct(rng=rng(1), slices=20, scanner=CT[0])
    volume = np.stack([hu(ds) for ds in datasets])
    corners = volume[:, :12, :12]
    assert abs(corners.mean() + 1000) < 10
    mid = volume[10]
    assert 1000 <= np.percentile(mid, 99.5) <= 1600
    soft = mid[(mid > -100) & (mid < 100)]
    assert 20 < np.median(soft) < 45
    # Ventricles (CSF) are darker than parenchyma somewhere in the middle slices.
    assert ((volume[8:14] > -10) & (volume[8:14] < 15)).sum() > 200


def test_a_head_ct_with_a_bleed_has_hyperdense_voxels_inside_the_skull():
    volume = syn.head_ct_volume(rng(4), bleed=True)
    assert volume.mask.sum() > 200
    assert volume.mask.any(axis=(1, 2)).sum() >= 3, "a bleed spans several slices"
    # The median: voxels touching the inner table share a pixel with bone (partial volume).
    assert 50 < np.median(volume.image[volume.mask]) < 90
    datasets = syn.head_ct(rng=rng(4), bleed=True)
    assert hyperdense_patches(np.stack([hu(ds) for ds in datasets])) > 50


def test_a_head_ct_without_a_bleed_has_no_lesion_and_nothing_blood_like():
    volume = syn.head_ct_volume(rng(4), bleed=False)
    assert not volume.mask.any()
    datasets = syn.head_ct(rng=rng(4), bleed=False)
    assert hyperdense_patches(np.stack([hu(ds) for ds in datasets])) == 0


def test_the_same_seed_with_and_without_a_bleed_differs_only_at_the_bleed():
    with_bleed = syn.head_ct_volume(rng(12), slices=8, size=64, bleed=True)
    without = syn.head_ct_volume(rng(12), slices=8, size=64, bleed=False)
    assert with_bleed.mask.any()
    near = syn._box_blur(with_bleed.mask.astype(np.float32), 1) > 0
    np.testing.assert_array_equal(with_bleed.image[~near], without.image[~near])


@pytest.mark.parametrize("bleed_type", ["intraparenchymal", "subdural"])
def test_both_kinds_of_bleed_lie_inside_the_skull_and_not_in_bone(bleed_type):
    volume = syn.head_ct_volume(rng(5), slices=20, bleed=True, bleed_type=bleed_type)
    assert volume.mask.sum() > 100
    blood = volume.image[volume.mask]
    assert np.median(blood) < 100, "the lesion is not painted over the skull"
    # Inside the head: every lesion voxel has bone further out along its row.
    z, y, x = np.nonzero(volume.mask)
    rows = volume.image[z, y]
    left = np.array([(r[:c] > 500).any() for r, c in zip(rows, x, strict=True)])
    right = np.array([(r[c:] > 500).any() for r, c in zip(rows, x, strict=True)])
    assert (left & right).mean() > 0.99


def test_an_unknown_bleed_type_is_refused():
    with pytest.raises(ValueError, match="bleed_type"):
        syn.head_ct_volume(rng(), slices=4, size=32, bleed=True, bleed_type="epidural")


def test_a_shifted_appearance_is_noisier_with_a_subtler_smaller_lesion():
    base = syn.head_ct_volume(rng(8), bleed=True, bleed_type="intraparenchymal")
    shifted = syn.head_ct_volume(
        rng(8), bleed=True, bleed_type="intraparenchymal", appearance=syn.Appearance.shifted()
    )
    assert shifted.image[:, :10, :10].std() > 1.5 * base.image[:, :10, :10].std()
    assert shifted.mask.sum() < base.mask.sum()
    assert np.mean(shifted.image[shifted.mask]) < np.mean(base.image[base.mask]) - 8


def test_generating_a_twenty_slice_head_ct_takes_well_under_a_second():
    syn.head_ct(rng=rng(0), slices=4, size=64)  # warm numpy's FFT plans and pydicom imports
    started = time.perf_counter()
    datasets = syn.head_ct(rng=rng(1), slices=20, size=256, bleed=True)
    assert time.perf_counter() - started < 1.0
    assert len(datasets) == 20


# --------------------------------------------------------------------------------------------
# Chest radiograph


def test_a_pneumothorax_is_a_darker_region_at_one_lung_apex_and_nowhere_else():
    with_ptx = syn.chest_image(rng(11), pneumothorax=True, side="right")
    without = syn.chest_image(rng(11), pneumothorax=False)
    mask = with_ptx.mask
    assert mask.sum() > 300
    assert not without.mask.any()
    # Same anatomy (same seed): the films differ by the pneumothorax and the noise only.
    difference = with_ptx.image - without.image
    assert difference[mask].mean() < -0.04
    near = syn._box_blur(mask.astype(np.float32), 3) > 0
    assert np.abs(difference[~near]).max() < 0.03  # the faint tips of the pleural line
    assert np.abs(difference[~near]).mean() < 1e-4
    # The right lung is on the image's left; the air collects at the apex and lateral edge.
    ys, xs = np.nonzero(mask)
    assert xs.mean() < mask.shape[1] / 2
    assert ys.mean() < mask.shape[0] * 0.6


def test_a_monochrome1_chest_stores_the_inverse_of_the_monochrome2_one():
    plain = syn.chest_radiograph(rng=rng(5), monochrome1=False, scanner=syn.SCANNERS["CR"][1])[0]
    inverted = syn.chest_radiograph(rng=rng(5), monochrome1=True, scanner=syn.SCANNERS["CR"][1])[0]
    assert plain.PhotometricInterpretation == "MONOCHROME2"
    assert inverted.PhotometricInterpretation == "MONOCHROME1"
    total = plain.pixel_array.astype(int) + inverted.pixel_array.astype(int)
    assert (total == 4095).all()
    assert plain.pixel_array.max() <= 4095


@pytest.mark.parametrize(
    ("scanner", "sop_class"),
    [
        (syn.SCANNERS["CR"][0], ComputedRadiographyImageStorage),
        (syn.SCANNERS["DX"][0], DigitalXRayImageStorageForPresentation),
    ],
)
def test_a_chest_radiograph_has_pa_chest_headers(scanner, sop_class):
    ds = syn.chest_radiograph(rng=rng(2), scanner=scanner)[0]
    assert ds.SOPClassUID == sop_class
    assert ds.Modality == scanner.modality
    assert ds.BodyPartExamined == "CHEST"
    assert ds.ViewPosition == "PA"
    assert ds.BitsStored == 12
    assert ds.StudyDescription == "XR CHEST PA"


# --------------------------------------------------------------------------------------------
# MR brain


def test_an_mr_brain_has_three_sequences_with_mr_headers():
    study = syn.make_study("mr-brain", rng=rng(3), slices=6, size=64)
    assert len(study.series_instance_uids) == 3
    descriptions = {ds.SeriesDescription for ds in study.datasets}
    assert descriptions == {"T1 SE AX", "T2 TSE AX", "FLAIR AX"}
    for ds in study.datasets:
        assert ds.SOPClassUID == MRImageStorage
        assert ds.Modality == "MR"
        assert ds.BodyPartExamined == "HEAD"
        assert ds.SequenceName and ds.ScanningSequence and ds.MagneticFieldStrength
    frames = {ds.FrameOfReferenceUID for ds in study.datasets}
    assert len(frames) == 1


def test_an_mr_lesion_is_bright_on_t2_and_dark_on_t1():
    t2 = syn.mr_brain_volume(rng(6), weighting="T2", lesion=True)
    t1 = syn.mr_brain_volume(rng(6), weighting="T1", lesion=True)
    np.testing.assert_array_equal(t1.mask, t2.mask)
    assert t2.mask.any()
    assert t2.image[t2.mask].mean() > 1.3 * np.median(t2.image[t2.image > 0.2])
    assert t1.image[t1.mask].mean() < np.median(t1.image[t1.image > 0.3])


# --------------------------------------------------------------------------------------------
# Headers and files


def test_a_head_ct_has_the_headers_a_scanner_writes():
    study = syn.make_study("head-ct", rng=rng(9), slices=5, study_datetime=WHEN, priority="stat")
    first = study.datasets[0]
    assert first.SOPClassUID == CTImageStorage
    assert first.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert list(first.ImageType) == ["ORIGINAL", "PRIMARY", "AXIAL"]
    assert first.BodyPartExamined == "HEAD"
    assert first.PhotometricInterpretation == "MONOCHROME2"
    assert first.StudyDescription == "CT HEAD WO CONTRAST"
    assert first.RequestedProcedurePriority == "STAT"
    assert first.StudyDate == "20250314" and first.StudyTime == "092653"
    assert [float(v) for v in first.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
    assert float(first.PixelSpacing[0]) == pytest.approx(240 / 256)
    assert float(first.SliceThickness) > 0
    assert first.WindowCenter == 40 and first.WindowWidth == 80
    zs = [float(ds.ImagePositionPatient[2]) for ds in study.datasets]
    assert zs == sorted(zs) and len(set(zs)) == len(zs)
    assert [ds.InstanceNumber for ds in study.datasets] == [1, 2, 3, 4, 5]
    assert len({ds.SOPInstanceUID for ds in study.datasets}) == 5
    assert {ds.StudyInstanceUID for ds in study.datasets} == {study.study_instance_uid}
    for keyword in ("PatientBirthDate", "PatientSex", "ReferringPhysicianName", "Manufacturer"):
        assert first.get(keyword)


def test_scanners_store_hounsfield_units_differently_but_decode_to_the_same_values():
    siemens = syn.head_ct(rng=rng(2), slices=3, size=64, scanner=CT[0])  # unsigned, -1024
    canon = syn.head_ct(rng=rng(2), slices=3, size=64, scanner=CT[3])  # signed, intercept 0
    assert siemens[0].Manufacturer != canon[0].Manufacturer
    assert siemens[0].PixelRepresentation == 0 and canon[0].PixelRepresentation == 1
    np.testing.assert_array_equal(hu(siemens[1]), hu(canon[1]))


def test_accession_numbers_use_the_prefix_and_fit_in_sixteen_characters():
    study = syn.make_study("chest-xr", rng=rng(1), accession_prefix="SEOULN")
    assert study.accession_number.startswith("SEOULN")
    assert len(study.accession_number) <= 16
    with pytest.raises(ValueError, match="16"):
        syn.make_study("chest-xr", rng=rng(1), accession_number="X" * 17)


@pytest.mark.parametrize("kind", syn.KINDS)
def test_every_kind_writes_and_reads_back_with_pydicom(kind):
    study = syn.make_study(kind, rng=rng(4), slices=4, finding=True)
    for ds in study.datasets[:3]:
        back = roundtrip(ds)
        assert back.SOPInstanceUID == ds.SOPInstanceUID
        assert back.StudyInstanceUID == study.study_instance_uid
        np.testing.assert_array_equal(back.pixel_array, ds.pixel_array)


@pytest.mark.parametrize(
    ("charset", "expected"), [(None, "ISO_IR 192"), ("ISO 2022 IR 149", ["", "ISO 2022 IR 149"])]
)
def test_a_non_ascii_patient_name_round_trips(charset, expected):
    patient = syn.Patient("P123", KOREAN, dt.date(1961, 5, 16), "M")
    study = syn.make_study("chest-xr", rng=rng(1), patient=patient, charset=charset)
    back = roundtrip(study.datasets[0])
    assert back.SpecificCharacterSet == expected
    assert str(back.PatientName) == KOREAN
    assert back.PatientName.ideographic == "洪^吉洞"


def test_an_ascii_name_needs_no_specific_character_set():
    patient = syn.Patient("P1", "DOE^JANE", dt.date(1970, 1, 1), "F")
    ds = syn.make_study("chest-xr", rng=rng(1), patient=patient).datasets[0]
    assert "SpecificCharacterSet" not in ds


def test_rle_compression_is_lossless():
    plain = syn.make_study("chest-xr", rng=rng(3), size=128).datasets[0]
    packed = syn.make_study("chest-xr", rng=rng(3), size=128, compress=True).datasets[0]
    assert packed.file_meta.TransferSyntaxUID == RLELossless
    assert packed.SOPInstanceUID == plain.SOPInstanceUID
    np.testing.assert_array_equal(roundtrip(packed).pixel_array, plain.pixel_array)


@pytest.mark.parametrize("kind", syn.KINDS)
def test_a_late_series_joins_the_same_study_after_the_others(kind):
    study = syn.make_study(kind, rng=rng(12), slices=4, finding=True, study_datetime=WHEN)
    before = list(study.datasets)
    late = study.add_series()
    assert late and study.datasets == before + late
    assert {ds.StudyInstanceUID for ds in late} == {study.study_instance_uid}
    assert {ds.SeriesInstanceUID for ds in late}.isdisjoint(study.series_instance_uids[:-1])
    assert len(study.series_instance_uids) == len({ds.SeriesInstanceUID for ds in before}) + 1
    assert int(late[0].SeriesNumber) > max(int(ds.SeriesNumber) for ds in before)
    assert late[0].SeriesTime > max(ds.SeriesTime for ds in before)
    assert late[0].PatientID == before[0].PatientID


def test_a_late_head_ct_series_shows_the_same_bleed():
    study = syn.make_study("head-ct", rng=rng(13), slices=10, finding=True)
    late = study.add_series()
    assert late[0].ConvolutionKernel != study.datasets[0].ConvolutionKernel
    assert late[0].FrameOfReferenceUID == study.datasets[0].FrameOfReferenceUID
    assert hyperdense_patches(np.stack([hu(ds) for ds in study.datasets[:10]])) > 50
    # The bone kernel is noisier, so compare where the original shows blood.
    original = np.stack([hu(ds) for ds in study.datasets[:10]])
    again = np.stack([hu(ds) for ds in late])
    blood = original > 60
    assert again[blood].mean() > 45


def test_the_summary_is_json_ready_and_tells_the_ground_truth():
    study = syn.make_study("chest-xr", rng=rng(2), finding=True)
    summary = study.summary()
    assert summary["finding"] is True
    assert summary["instances"] == 1
    assert summary["study_instance_uid"] == study.study_instance_uid
    assert summary["priority"] in ("stat", "urgent", "routine")


# --------------------------------------------------------------------------------------------
# dciodvfy (dicom3tools): the objects follow their IODs


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools is not installed")
@pytest.mark.parametrize(
    ("kind", "scanner"),
    [
        ("head-ct", CT[0]),
        ("head-ct", CT[1]),
        ("head-ct", CT[3]),
        ("chest-xr", syn.SCANNERS["CR"][0]),
        ("chest-xr", syn.SCANNERS["DX"][0]),
        ("mr-brain", syn.SCANNERS["MR"][0]),
    ],
    ids=lambda v: v if isinstance(v, str) else v.manufacturer.split()[0],
)
def test_dciodvfy_reports_no_errors(tmp_path, kind, scanner):
    patient = syn.Patient("P9", KOREAN, dt.date(1950, 1, 2), "M")
    study = syn.make_study(kind, rng=rng(3), slices=3, scanner=scanner, patient=patient)
    path = tmp_path / "object.dcm"
    dcmwrite(path, study.datasets[0], enforce_file_format=True)
    out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, check=False)
    report = out.stdout + out.stderr
    errors = [line for line in report.splitlines() if line.startswith("Error")]
    assert not errors, report
