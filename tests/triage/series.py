"""Writing arrays as the DICOM series a scanner would send, for the triage tests."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from triage.core.shifted import shifted_sources

SHIPPED = Path(__file__).resolve().parents[2] / "triage" / "packages"


def hu_series(
    hu: np.ndarray,
    spacing: tuple[float, float, float],
    *,
    intercept: float = -1024.0,
    **header,
) -> list[Dataset]:
    """A HU volume written as a CT series the way a scanner would (int16, intercept -1024)."""
    series_uid = generate_uid()
    datasets = []
    for k, plane in enumerate(hu):
        ds = Dataset()
        ds.Modality, ds.BodyPartExamined = "CT", "HEAD"
        ds.SeriesInstanceUID, ds.SOPInstanceUID = series_uid, generate_uid()
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [0, 0, k * spacing[0]]
        ds.PixelSpacing = [spacing[1], spacing[2]]
        ds.SliceThickness = spacing[0]
        ds.Rows, ds.Columns = plane.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope = intercept, 1
        ds.PixelData = np.round(plane - intercept).astype(np.int16).tobytes()
        for keyword, value in header.items():
            setattr(ds, keyword, value)
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        datasets.append(ds)
    return datasets


def smoke_study(name: str, *, positive: bool) -> list[Dataset]:
    """A study the shipped model is known to read as its card says: the card's smoke set names
    simulator studies and what the model said of them; this is the first positive it flagged,
    or the first negative it did not (the study's first series)."""
    card = json.loads((SHIPPED / name / "model.json").read_text())
    case = next(c for c in card["smoke"]["cases"] if c["positive"] == positive == c["flagged"])
    _, draw = shifted_sources(name)["simulator"]
    rng = np.random.default_rng([card["training"]["seed"], 7, 0, case["index"]])
    return draw(rng, positive)[0]


# What names the body part a study shows, for the tests of a header that names none.
SAYS_WHAT = ("BodyPartExamined", "StudyDescription", "SeriesDescription", "ProtocolName")


def without_body_part(ds: Dataset) -> Dataset:
    """A copy of the instance with every element that names a body part removed."""
    copied = copy.deepcopy(ds)
    for keyword in SAYS_WHAT:
        if keyword in copied:
            delattr(copied, keyword)
    return copied


def assert_read_alike(usual, other, flags: dict) -> None:
    """Two runs of one model on the same patient stored two ways (``RunOutcome``s): both
    succeeded, flag ``flags`` and give the same probabilities to 1e-6."""
    assert usual.status == other.status == "succeeded", other.reason
    assert other.flags == usual.flags == flags
    for before, after in zip(usual.findings, other.findings, strict=True):
        assert after.probability == pytest.approx(before.probability, abs=1e-6)
