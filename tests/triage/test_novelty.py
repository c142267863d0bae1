"""The novelty check: a model says nothing on a study unlike the ones it was validated on.

The chest model's version 1 gave p = 1 on every film drawn by another hand (the card's
"geometric" and "detector" families), so every such chest went STAT; its novelty record then
withheld them all. Version 2 (three map networks trained on a widely randomised generator)
reads those families, and a film drawn for this test by hand, and still carries a record: the
mean and covariance of its own features on films like its validation data, and a limit set on
a second such set. A study past the limit gets a low-confidence run that flags nothing; a study
like the validation data is scored as before.
"""

from __future__ import annotations

import json
import shutil
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
import torch
from django.core.management import call_command
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian, generate_uid

from simulator.synthetic import chest_radiograph
from triage.core import novelty
from triage.core.package import PackageError, load_package
from triage.core.pipeline import run_model
from triage.core.validation.evaluate import draw_set

PACKAGES = Path(__file__).resolve().parents[2] / "triage" / "packages"
CHEST = PACKAGES / "cxr-pneumothorax"


# -- the record ------------------------------------------------------------------------------


def _cloud(rng, n, shift=0.0):
    # Correlated features, as a network's are: a random mixing of independent normals.
    mixing = np.random.default_rng(1).normal(size=(8, 8))
    return rng.normal(size=(n, 8)) @ mixing + shift


def test_the_limit_is_the_stated_multiple_of_the_largest_calibration_distance():
    rng = np.random.default_rng(0)
    fitting, calibration = _cloud(rng, 400), _cloud(rng, 100)
    record, measured = novelty.fit(fitting, calibration)
    largest = record.distance(calibration).max()
    assert record.limit == pytest.approx(novelty.LIMIT_MARGIN * largest)
    assert measured["n_fitting"] == 400 and measured["n_calibration"] == 100
    assert measured["calibration_distance_max"] == pytest.approx(largest, abs=1e-3)


def test_studies_like_the_fitting_set_pass_and_shifted_ones_do_not():
    rng = np.random.default_rng(2)
    record, _ = novelty.fit(_cloud(rng, 400), _cloud(rng, 100))
    same = record.distance(_cloud(rng, 500))
    shifted = record.distance(_cloud(rng, 500, shift=25.0))
    assert (same <= record.limit).mean() > 0.99
    assert (shifted > record.limit).all()


def test_a_record_survives_its_file_and_a_damaged_one_is_refused(tmp_path):
    rng = np.random.default_rng(3)
    record, _ = novelty.fit(_cloud(rng, 100), _cloud(rng, 50))
    path = novelty.write(record, tmp_path)
    again = novelty.read(path.read_bytes())
    probe = _cloud(rng, 5)
    assert np.allclose(again.distance(probe), record.distance(probe), rtol=1e-5)
    data = json.loads(path.read_text())
    for damage, message in [
        ({**data, "limit": -1}, "positive"),
        ({**data, "mean": data["mean"][:-1]}, "do not fit"),
        ({**data, "precision": "x"}, "not a novelty record"),
        ({**data, "precision": [[1.0]]}, "do not fit"),
        ({"limit": 1}, "not a novelty record"),
    ]:
        with pytest.raises(novelty.NoveltyError, match=message):
            novelty.read(json.dumps(damage).encode())
    with pytest.raises(novelty.NoveltyError, match="not JSON"):
        novelty.read(b"\xff")
    with pytest.raises(novelty.NoveltyError, match="values"):
        again.distance(np.zeros((1, 3)))


# -- the package ------------------------------------------------------------------------------


def test_the_shipped_chest_package_carries_a_pinned_record():
    model = load_package(CHEST)
    assert model.novelty is not None
    assert model.card.novelty["file"] == "novelty.json"
    _probabilities, distances = model.predict_with_novelty(
        torch.zeros(model.card.input.example_shape())
    )
    assert distances.shape == (1,)


def test_a_changed_or_missing_record_is_refused(tmp_path):
    package = tmp_path / "cxr"
    shutil.copytree(CHEST, package)
    record = package / "novelty.json"
    data = json.loads(record.read_text())
    data["limit"] = data["limit"] * 10  # a wider gate, quietly: the pin must catch it
    record.write_text(json.dumps(data))
    with pytest.raises(PackageError, match=r"novelty record novelty\.json has sha256"):
        load_package(package)
    record.unlink()
    with pytest.raises(PackageError, match=r"novelty record novelty\.json is missing"):
        load_package(package)


# -- the pipeline -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chest():
    return load_package(CHEST)


def hand_drawn_chest(
    seed: int,
    pneumothorax: bool = False,
    *,
    side: str = "right",
    monochrome1: bool = False,
    n: int = 512,
) -> list[Dataset]:
    """A frontal chest DX written for this test from a plain description (no generator of the
    project's): soft tissue filling the film, two lungs, a mediastinum and spine, noise; with
    the lung's apex and side clear and darker for a pneumothorax (the patient's right lung,
    on the image's left, unless ``side`` says "left"); stored MONOCHROME2 unless
    ``monochrome1``."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:n, 0:n].astype(np.float32) / n
    density = np.full((n, n), 0.55, np.float32)  # soft tissue: the body fills the film
    for cx in (0.3, 0.7):
        lung = ((x - cx) / 0.17) ** 2 + ((y - 0.5) / 0.3) ** 2 < 1
        density[lung] = 0.25 + 0.04 * np.sin(40 * y[lung]) * np.cos(33 * x[lung])
    density[np.abs(x - 0.5) < 0.06] = 0.8  # mediastinum and spine
    if pneumothorax:
        cx = 0.3 if side == "right" else 0.7
        edge = ((x - cx) / 0.17) ** 2 + ((y - 0.5) / 0.3) ** 2
        density[(edge > 0.55) & (edge < 1) & (y < 0.55)] = 0.1
    density += rng.normal(0, 0.02, density.shape).astype(np.float32)
    stored = np.clip(density * 4095, 0, 4095).astype(np.uint16)
    if monochrome1:
        stored = 4095 - stored
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = DigitalXRayImageStorageForPresentation, generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.BodyPartExamined, ds.ViewPosition = "DX", "CHEST", "PA"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.PatientID = "HANDDRAWN"
    ds.Rows = ds.Columns = n
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME1" if monochrome1 else "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.WindowCenter, ds.WindowWidth = 2048, 4096
    ds.PixelData = stored.tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return [ds]


def ringed_film() -> list[Dataset]:
    """No chest at all in a chest's header: concentric rings, which the model scores high."""
    ds = hand_drawn_chest(4)[0]
    y, x = np.mgrid[0 : ds.Rows, 0 : ds.Columns] / ds.Rows
    rings = 0.5 + 0.4 * np.sin(np.hypot(x - 0.5, y - 0.5) * 80)
    ds.PixelData = np.clip(rings * 4095, 0, 4095).astype(np.uint16).tobytes()
    return [ds]


def test_a_film_unlike_any_chest_gets_a_low_confidence_run_that_flags_nothing(chest):
    outcome = run_model(chest, [ringed_film()])
    assert outcome.status == "low_confidence"
    assert outcome.detail["input_check"]["code"] == "unfamiliar"
    assert "unlike the studies this model was validated on" in outcome.reason
    assert outcome.detail["novelty"]["distance"] > outcome.detail["novelty"]["limit"]
    assert not any(outcome.flags.values())
    # The score is kept for the record: past the threshold, and still no flag.
    (finding,) = outcome.findings
    assert finding.probability > finding.threshold


@pytest.mark.parametrize("pneumothorax", [False, True])
def test_a_chest_drawn_by_hand_for_this_test_is_read_and_flagged_only_with_a_pneumothorax(
    chest, pneumothorax
):
    outcome = run_model(chest, [hand_drawn_chest(4, pneumothorax)])
    assert outcome.status == "succeeded", outcome.reason
    assert outcome.detail["novelty"]["distance"] <= outcome.detail["novelty"]["limit"]
    assert outcome.flags == {"pneumothorax": pneumothorax}


@pytest.mark.parametrize(
    "drawn", [{"side": "left"}, {"monochrome1": True}, {"n": 1024}], ids=["left", "mono1", "1024"]
)
def test_the_hand_drawn_chest_is_read_alike_on_either_side_inverted_or_larger(chest, drawn):
    for seed in (1, 2):
        normal = run_model(chest, [hand_drawn_chest(seed, False, **drawn)])
        collapsed = run_model(chest, [hand_drawn_chest(seed, True, **drawn)])
        assert normal.status == collapsed.status == "succeeded"
        assert normal.flags == {"pneumothorax": False}
        assert collapsed.flags == {"pneumothorax": True}


def test_chests_of_another_hands_families_are_read_not_withheld(chest):
    """What the card's novelty section says (none of the geometric family's 200 withheld, one
    of the detector family's), on a few films of each."""
    for family in ("geometric", "detector"):
        assert chest.card.novelty["sources"][family]["withheld"] <= 1
        for drawn in draw_set("cxr-pneumothorax", family, 4, seed=123):
            outcome = run_model(chest, [drawn.datasets])
            assert outcome.status == "succeeded", (family, outcome.reason)


def test_the_demo_simulators_chests_are_scored_as_before(chest):
    rng = np.random.default_rng(77)
    for pneumothorax in (False, True, False, True):
        outcome = run_model(chest, [chest_radiograph(rng=rng, size=512, pneumothorax=pneumothorax)])
        assert outcome.status == "succeeded", outcome.reason
        assert outcome.detail["novelty"]["distance"] <= outcome.detail["novelty"]["limit"]


# -- fitting ----------------------------------------------------------------------------------


def test_fit_triage_novelty_writes_pins_and_measures_a_record(tmp_path):
    package = tmp_path / "cxr"
    shutil.copytree(CHEST, package)
    (package / "novelty.json").unlink()
    out, err = StringIO(), StringIO()
    call_command("fit_triage_novelty", "cxr-pneumothorax", "--package", str(package),
                 "--fitting", "24", "--calibration", "12", "--family", "6",
                 stdout=out, stderr=err)  # fmt: skip
    card = json.loads((package / "model.json").read_text())
    section = card["novelty"]
    assert section["n_fitting"] == 24 and section["n_calibration"] == 12
    assert set(section["sources"]) == {"simulator", "geometric", "detector"}
    assert section["sources"]["geometric"]["n"] == 6
    assert load_package(package).novelty.limit == pytest.approx(section["limit"], rel=1e-4)
    assert "withheld" in out.getvalue() and "geometric" in out.getvalue()
    assert "fitting" in err.getvalue()  # progress


def test_fit_triage_novelty_says_what_to_do_without_a_package(tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--package"):
        call_command("fit_triage_novelty", "nothing-here", "--package", str(tmp_path))
