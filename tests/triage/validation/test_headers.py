"""The instances are what modalities send: complete headers that pydicom writes and reads back
unchanged, the identifiers and geometry the pipeline needs, the variety hospitals produce."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    UID,
    ComputedRadiographyImageStorage,
    CTImageStorage,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
)

from tests.triage.validation.draws import ALL, drawn
from triage.core.preprocess import to_hounsfield
from triage.core.validation import chest_detector, chest_geometric, head_geometric, head_scanner
from triage.core.validation.evaluate import draw_set
from triage.core.validation.series import CT_ENCODINGS, study_header

SOP_CLASSES = {
    "CT": CTImageStorage,
    "CR": ComputedRadiographyImageStorage,
    "DX": DigitalXRayImageStorageForPresentation,
}


def _round_trip(ds: Dataset) -> Dataset:
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return pydicom.dcmread(io.BytesIO(buffer.getvalue()))


@pytest.mark.parametrize(("task", "family"), ALL)
def test_an_instance_is_written_and_read_back_with_its_headers_and_pixels(task, family):
    ds = drawn(task, family, 1, True).datasets[0]
    back = _round_trip(ds)
    assert back.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert back.SOPClassUID == SOP_CLASSES[back.Modality]
    assert back.file_meta.MediaStorageSOPInstanceUID == back.SOPInstanceUID
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        assert UID(back[keyword].value).is_valid
    assert back.PatientID and str(back.PatientName)
    assert list(back.ImageType[:2]) == ["ORIGINAL", "PRIMARY"]
    assert back.BodyPartExamined if "BodyPartExamined" in back else back.StudyDescription
    assert back.PixelData == ds.PixelData
    assert np.array_equal(back.pixel_array, ds.pixel_array)


@pytest.mark.parametrize("family", ["geometric", "scanner"])
def test_a_head_ct_slice_carries_its_geometry_and_rescale(family):
    study = drawn("head-ct-ich", family, 1, True)
    back = _round_trip(study.datasets[0])
    assert list(back.ImageType) == ["ORIGINAL", "PRIMARY", "AXIAL"]
    assert len(back.ImagePositionPatient) == 3 and len(back.ImageOrientationPatient) == 6
    assert float(back.PixelSpacing[0]) == pytest.approx(study.parameters["pixel_mm"], rel=1e-3)
    assert float(back.SliceThickness) == pytest.approx(study.parameters["thickness_mm"], rel=1e-3)
    assert back.BitsStored in (12, 16)
    assert float(back.RescaleSlope) in (0.5, 1.0)
    assert float(back.RescaleIntercept) in (-1024.0, -1000.0, 0.0)


@pytest.mark.parametrize("family", ["geometric", "scanner"])
def test_a_head_series_arrives_in_no_particular_order(family):
    numbers = [int(ds.InstanceNumber) for ds in drawn("head-ct-ich", family, 1, True).datasets]
    assert sorted(numbers) == list(range(1, len(numbers) + 1))
    assert numbers != sorted(numbers) and numbers != sorted(numbers, reverse=True)


@pytest.mark.parametrize("encoding", CT_ENCODINGS.values(), ids=CT_ENCODINGS)
def test_every_ct_encoding_stores_hounsfield_units_the_pipeline_reads_back(encoding):
    low, high = encoding.limits()
    hu = np.linspace(-1000, min(1900.0, high * encoding.slope + encoding.intercept), 512)
    hu = hu.astype(np.float32)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.RescaleSlope, ds.RescaleIntercept = encoding.slope, encoding.intercept
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    stored = encoding.store(hu)
    assert stored.min() >= low and stored.max() <= high
    assert np.abs(to_hounsfield(ds, stored) - hu).max() <= encoding.slope / 2 + 1e-3


@pytest.mark.parametrize(
    "style", [head_geometric.STYLE, head_scanner.STYLE, chest_geometric.STYLE, chest_detector.STYLE]
)
def test_some_studies_name_their_body_part_only_in_the_study_description(style):
    words = {"HEAD", "BRAIN", "SKULL"} if style.body_part == "HEAD" else {"CHEST", "THORAX"}
    headers = [study_header(np.random.default_rng(seed), style) for seed in range(200)]
    bare = [h for h in headers if "BodyPartExamined" not in h]
    assert 10 < len(bare) < 100
    for header in bare:
        assert words & set(header["StudyDescription"].replace("^", " ").split())
    assert {h["BodyPartExamined"] for h in headers if h not in bare} == {style.body_part}


def test_chest_studies_come_as_monochrome1_and_monochrome2_with_and_without_windows():
    studies = [
        d.datasets[0]
        for family in ("geometric", "detector")
        for d in draw_set("cxr-pneumothorax", family, 8, seed=3)
    ]
    assert {ds.PhotometricInterpretation for ds in studies} == {"MONOCHROME1", "MONOCHROME2"}
    assert {"WindowCenter" in ds for ds in studies} == {True, False}
    assert {ds.Modality for ds in studies} == {"CR", "DX"}
    assert {(ds.Modality, ds.PhotometricInterpretation, ds.BitsStored) for ds in studies} >= {
        ("CR", "MONOCHROME1", 10)
    }
