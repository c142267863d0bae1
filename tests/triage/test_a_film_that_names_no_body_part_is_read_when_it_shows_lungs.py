"""A radiograph whose header names no body part is read by the chest model when it shows lungs.

As for a CT (``test_a_ct_that_names_no_body_part_is_read_when_its_images_show_a_head``): a
film with no BodyPartExamined and no description naming anything used to get no AI. Now the
film decides: a frontal chest shows lung fields, lucent parts that the body encloses (the air
around the patient reaches the film's edge), on both sides, one of them large
(``triage.core.quality.lung_fields``). Films of other parts, drawn here (an abdomen with gas in
its bowel, a hand, a knee, a skull, a pelvis), show none and are not read.

The chests are the shipped model's own smoke-set films and GDCM's real CR of a chest (in
``shared/dicom``), all run through the worker's own ``run_model``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian, generate_uid

from tests.triage.series import SHIPPED, assert_read_alike, smoke_study, without_body_part
from triage.core.package import load_package
from triage.core.pipeline import run_model

SHARED = Path(__file__).resolve().parents[3] / "shared" / "dicom"


@pytest.fixture(scope="module")
def model():
    return load_package(SHIPPED / "cxr-pneumothorax")


def _ellipse(centre, axes, size=512, angle=0.0):
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    dx, dy = x - centre[0], y - centre[1]
    c, s = np.cos(angle), np.sin(angle)
    u, v = c * dx + s * dy, -s * dx + c * dy
    return (u / axes[0]) ** 2 + (v / axes[1]) ** 2 < 1.0


def film(part: str, size: int = 512) -> Dataset:
    """A frontal film of another body part as a detector presents it (bright = dense): air
    around the patient, soft tissue, bone, and gas where the part has some."""
    rng = np.random.default_rng({"abdomen": 1, "hand": 2, "knee": 3, "skull": 4, "pelvis": 5}[part])
    d = np.full((size, size), 0.04, np.float32)
    if part == "abdomen":
        d[:, 40:472] = 0.55  # the belly fills the film from top to bottom
        d[:, 236:276] = 0.82  # the lumbar spine
        d[_ellipse((140, 470), (110, 70)) | _ellipse((372, 470), (110, 70))] = 0.78  # iliac wings
        for _ in range(40):  # gas in the small bowel
            d[_ellipse(rng.uniform((90, 60), (420, 440)), rng.uniform(6, 18, 2))] = 0.15
        for centre in ((120, 250), (390, 250), (256, 120)):  # colon segments
            d[_ellipse(centre, (18, 70), angle=0.0 if centre[1] > 200 else np.pi / 2)] = 0.15
    elif part == "hand":
        d[_ellipse((256, 330), (120, 140))] = 0.45  # the palm
        for k, x in enumerate((150, 205, 256, 307, 362)):
            finger = _ellipse((x, 150 - 20 * (k in (1, 2, 3))), (22, 110))
            d[finger] = 0.45
            d[_ellipse((x, 150), (9, 95))] = 0.8  # phalanges
        for x in (190, 230, 270, 310):
            d[_ellipse((x, 330), (10, 80))] = 0.8  # metacarpals
    elif part == "knee":
        d[:, 130:382] = 0.45
        d[:250, 190:322] = 0.8  # femur
        d[270:, 200:312] = 0.8  # tibia
        d[_ellipse((256, 250), (80, 40))] = 0.85  # condyles
    elif part == "skull":
        d[_ellipse((256, 250), (200, 235))] = 0.9
        d[_ellipse((256, 250), (180, 215))] = 0.6
        d[_ellipse((190, 260), (30, 26)) | _ellipse((322, 260), (30, 26))] = 0.35  # orbits
        d[_ellipse((200, 350), (28, 30)) | _ellipse((312, 350), (28, 30))] = 0.3  # sinuses
    else:  # pelvis
        d[:, 20:492] = 0.55
        d[_ellipse((150, 180), (120, 90)) | _ellipse((362, 180), (120, 90))] = 0.8  # iliac wings
        d[_ellipse((256, 200), (45, 110))] = 0.82  # sacrum
        d[_ellipse((150, 360), (45, 45)) | _ellipse((362, 360), (45, 45))] = 0.85  # femoral heads
        d[_ellipse((200, 420), (30, 22)) | _ellipse((312, 420), (30, 22))] = 0.5  # obturators
        for _ in range(15):
            d[_ellipse(rng.uniform((120, 60), (400, 260)), rng.uniform(6, 14, 2))] = 0.15
    d += rng.normal(0, 0.01, d.shape).astype(np.float32)
    ds = Dataset()
    ds.SOPClassUID = DigitalXRayImageStorageForPresentation
    ds.SOPInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.Modality, ds.ViewPosition = "DX", "AP"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.Rows = ds.Columns = size
    ds.PixelSpacing = [0.7, 0.7]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = np.clip(d * 4095, 0, 4095).astype(np.uint16).tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


@pytest.mark.parametrize("positive", [True, False])
def test_an_unlabelled_chest_film_is_read_as_the_labelled_one(model, positive):
    labelled = smoke_study("cxr-pneumothorax", positive=positive)
    assert labelled[0].get("BodyPartExamined") or labelled[0].get("StudyDescription")
    as_labelled = run_model(model, [labelled])
    as_sent = run_model(model, [[without_body_part(labelled[0])]])
    assert_read_alike(as_labelled, as_sent, {"pneumothorax": positive})
    notes = as_sent.detail["notes"]
    assert any(n.startswith("the header names no body part") for n in notes), notes
    assert any(n.startswith("read as a chest: lung fields cover") for n in notes), notes


def test_a_real_chest_film_without_a_body_part_is_read(model):
    ds = pydicom.dcmread(SHARED / "cr-chest" / "gdcm-CR-MONO1-10-chest.dcm")
    outcome = run_model(model, [[without_body_part(ds)]])
    assert outcome.status != "not_applicable", outcome.reason
    assert any(n.startswith("read as a chest") for n in outcome.detail["notes"])


@pytest.mark.parametrize("part", ["abdomen", "hand", "knee", "skull", "pelvis"])
def test_an_unlabelled_film_of_another_body_part_is_not_read(model, part):
    outcome = run_model(model, [[film(part)]])
    assert outcome.status == "not_applicable"
    assert outcome.reason.startswith("the header names no body part and the film shows no lung")
    assert outcome.findings == [] and "input_check" not in outcome.detail


def test_a_film_whose_header_names_another_part_is_refused_by_it():
    ds = film("abdomen")
    ds.StudyDescription = "KUB"
    ds.SeriesDescription = "ABDOMEN AP"
    outcome = run_model(load_package(SHIPPED / "cxr-pneumothorax"), [[ds]])
    assert outcome.status == "not_applicable"
    assert "no BodyPartExamined and no CHEST/LUNG/THORAX" in outcome.reason
