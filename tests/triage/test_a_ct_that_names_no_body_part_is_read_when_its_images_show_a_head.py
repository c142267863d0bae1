"""A CT whose header names no body part is read by the head model when its images show a head.

Modalities, routers and studies made by a program often write no BodyPartExamined and no
description at all. Such a series used to get "no BodyPartExamined and no BRAIN/HEAD/SKULL in
the study or series description": no AI, however plain the bleed. Now the header's silence
leaves it to the images: a head shows bone closed around brain on most of its slices
(``triage.core.framing.cranial_share``), and nothing else a CT scans does. A header that names
another body part (abdomen, spine, sinuses) still says what was scanned and is not read.

The heads are the shipped model's own smoke-set studies and a head drawn here by another hand;
the other body parts are one real CT slice of a neck (dicompyler's, in ``shared/dicom``) and a
chest, an abdomen and a pelvis drawn here, all written as real DICOM and run through the
worker's own ``run_model``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from tests.triage.sending import head_run, send_and_triage
from tests.triage.series import (
    SHIPPED,
    assert_read_alike,
    hu_series,
    smoke_study,
    without_body_part,
)
from triage.core.framing import cranial_share, frame_head
from triage.core.package import load_package
from triage.core.pipeline import run_model
from triage.core.preprocess import hounsfield_series
from triage.core.quality import MIN_CRANIAL_SHARE

SHARED = Path(__file__).resolve().parents[3] / "shared" / "dicom"


@pytest.fixture(scope="module")
def model():
    return load_package(SHIPPED / "head-ct-ich")


def unlabelled(datasets: list) -> list:
    """The same instances with every element that names a body part removed."""
    return [without_body_part(ds) for ds in datasets]


def _ellipse(shape, centre_mm, axes_mm, pixel_mm):
    rows, cols = shape
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32) * pixel_mm
    cy, cx = rows * pixel_mm / 2 + centre_mm[1], cols * pixel_mm / 2 + centre_mm[0]
    return ((x - cx) / axes_mm[0]) ** 2 + ((y - cy) / axes_mm[1]) ** 2 < 1.0


def body(part: str, *, slices: int = 30, size: int = 512, pixel_mm: float = 0.7):
    """A chest, an abdomen or a pelvis as a CT draws them (HU): a body of fat and muscle, the
    spine behind, and what each holds: lungs and ribs with gaps between them; liver, kidneys
    and gas in the bowel; a pelvis whose bones close into a ring around the bladder (the worst
    case: bone does close there, around a small part of the body)."""
    rng = np.random.default_rng({"chest": 1, "abdomen": 2, "pelvis": 3}[part])
    shape = (size, size)

    def e(centre, axes):
        return _ellipse(shape, centre, axes, pixel_mm)

    plane = np.full(shape, -1000.0, np.float32)
    width = {"chest": (165, 115), "abdomen": (155, 110), "pelvis": (180, 120)}[part]
    plane[e((0, 0), width)] = -100.0  # subcutaneous fat
    plane[e((0, 0), (width[0] - 12, width[1] - 12))] = 45.0  # muscle and organs
    plane[e((0, 65), (16, 16))] = 450.0  # vertebral body
    plane[e((0, 88), (9, 9))] = 20.0  # spinal canal, closed by its arch
    plane[e((0, 88), (12, 12)) & ~e((0, 88), (9, 9))] = 450.0
    if part == "chest":
        plane[e((-70, 0), (55, 85))] = -850.0
        plane[e((70, 0), (55, 85))] = -850.0
        plane[e((15, -10), (45, 40))] = 40.0  # heart
        for angle in np.linspace(0.2, 2 * np.pi - 0.2, 14):
            x, y = 140 * np.cos(angle), 95 * np.sin(angle)
            plane[e((x, y), (7, 7))] = 650.0  # ribs, apart
    elif part == "abdomen":
        plane[e((-60, -10), (60, 55))] = 60.0  # liver
        plane[e((-55, 45), (18, 25))] = 30.0  # kidneys
        plane[e((55, 45), (18, 25))] = 30.0
        for _ in range(12):
            x, y = rng.uniform(-60, 80), rng.uniform(-70, 20)
            plane[e((x, y), (6, 6))] = -900.0  # gas in the bowel
    else:
        ring = e((0, 10), (75, 60)) & ~e((0, 10), (66, 51))
        plane[ring] = 500.0  # a bony pelvis closed all round
        plane[e((0, -10), (40, 30))] = 10.0  # the bladder inside it
        plane[e((-115, 15), (24, 24))] = 600.0  # femoral heads
        plane[e((115, 15), (24, 24))] = 600.0
    noise = rng.normal(0, 8, (slices, *shape)).astype(np.float32)
    return np.repeat(plane[None], slices, axis=0) + noise


def _neck_series(copies: int = 12) -> list:
    """dicompyler's real CT slice (a neck with the shoulders: 512 x 512, 1.07 mm pixels), as a
    series of ``copies`` slices 3 mm apart; its header names no body part, as it came."""
    out = []
    for k in range(copies):
        ds = pydicom.dcmread(SHARED / "ct" / "dicompyler-ct.0.dcm")
        ds.SOPInstanceUID = generate_uid()
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [-275.0, -524.0, 168.5 + 3.0 * k]
        out.append(ds)
    return out


@pytest.mark.parametrize("bleed", [True, False])
def test_an_unlabelled_head_is_read_as_the_labelled_one(model, bleed):
    labelled = smoke_study("head-ct-ich", positive=bleed)
    assert labelled[0].get("BodyPartExamined") or labelled[0].get("StudyDescription")
    as_labelled, as_sent = run_model(model, [labelled]), run_model(model, [unlabelled(labelled)])
    assert_read_alike(as_labelled, as_sent, {"ich": bleed})
    notes = as_sent.detail["notes"]
    assert any(n.startswith("the header names no body part") for n in notes), notes
    assert any(n.startswith("read as a head: bone closes around brain") for n in notes), notes
    assert not any("body part" in n or "read as a head" in n for n in as_labelled.detail["notes"])


def test_a_head_drawn_by_another_hand_without_a_body_part_is_read(model):
    # The head: flat ellipses, skull 1100 HU, brain 34 HU, two ventricles, no bleed.
    z = np.linspace(-0.9, 0.9, 24)[:, None, None]
    y, x = np.mgrid[-1:1:256j, -1:1:256j]
    r = (x / 0.62) ** 2 + (y / 0.78) ** 2 + z**2
    hu = np.full((24, 256, 256), -1000.0, np.float32)
    hu[r < 1.0], hu[r < 0.85] = 1100.0, 34.0
    hu[(((np.abs(x) - 0.1) / 0.06) ** 2 + (y / 0.3) ** 2 + (z / 0.4) ** 2 < 1) & (r < 0.85)] = 7.0
    hu += np.random.default_rng(4).normal(0, 4, hu.shape).astype(np.float32)
    outcome = run_model(model, [unlabelled(hu_series(hu, (5.0, 0.9, 0.9)))])
    assert outcome.status != "not_applicable", outcome.reason
    assert "body_part" not in [c["code"] for c in outcome.detail.get("input_checks", [])]
    # Written as bare as a script may write it: no geometry, no plane, no spacing, only the
    # pixels and their order. Read alike, the run saying what it assumed.
    bare = unlabelled(hu_series(hu, (5.0, 0.9, 0.9)))
    for number, ds in enumerate(bare, start=1):
        for keyword in ("ImageOrientationPatient", "ImagePositionPatient", "ImageType",
                        "PixelSpacing", "SliceThickness"):  # fmt: skip
            delattr(ds, keyword)
        ds.InstanceNumber = number
    as_bare = run_model(model, [bare])
    assert as_bare.status == outcome.status, as_bare.reason
    assert as_bare.probabilities == outcome.probabilities
    notes = as_bare.detail["notes"]
    assert any(n.startswith("no ImageOrientationPatient and no plane") for n in notes), notes


@pytest.mark.parametrize(
    "part", ["chest", "abdomen", "pelvis", "pelvis, small field of view", "neck (real)"]
)
def test_an_unlabelled_ct_of_another_body_part_is_not_read(model, part):
    if part == "neck (real)":
        series = _neck_series()
    elif part == "pelvis, small field of view":
        # Reconstructed tight around the bony ring (15 cm): bone closes around watery tissue
        # and fills the image, but the image's edge, not air, is all round the body.
        series = unlabelled(hu_series(body("pelvis")[:, 150:362, 130:342].copy(), (5, 0.7, 0.7)))
    else:
        series = unlabelled(hu_series(body(part), (5.0, 0.7, 0.7)))
    hu, _, _, _ = hounsfield_series(series)
    share = cranial_share(hu, frame_head(hu, size=64, slices=24).box)
    assert share < MIN_CRANIAL_SHARE
    outcome = run_model(model, [series])
    assert outcome.status == "not_applicable"
    assert outcome.reason.startswith("the header names no body part and the images show no head")
    # Plainly not for this model, as a header naming the abdomen would have said: no input
    # check is recorded, so the worklist shows no "AI not applied" badge for it.
    assert "input_check" not in outcome.detail
    assert outcome.detail["selection"].startswith("head-ct-ich: CT axial")
    assert outcome.detail["notes"][0].startswith("the header names no body part")
    assert outcome.findings == [] and not any(outcome.flags.values())


def test_a_labelled_body_ct_is_refused_by_its_header_before_any_pixel(model):
    # The same chest, labelled: the header decides, as before.
    outcome = run_model(
        model, [hu_series(body("chest"), (5.0, 0.7, 0.7), BodyPartExamined="CHEST")]
    )
    assert outcome.status == "not_applicable"
    assert "body part CHEST is not BRAIN/HEAD/SKULL" in outcome.reason


def test_an_unlabelled_head_with_a_bleed_sent_by_c_store_is_flagged_and_escalated(
    orthanc, hospital_a, manager, settings, tmp_path
):
    settings.TRIAGE_MODEL_DIRS = [str(SHIPPED)]
    study = send_and_triage(
        unlabelled(smoke_study("head-ct-ich", positive=True)), orthanc, tmp_path
    )
    data, ich = head_run(manager, study)
    assert ich["status"] == "succeeded", ich["reason"]
    assert ich["flags"] == {"ich": True}, ich["probabilities"]
    assert data["priority"] == "stat"
