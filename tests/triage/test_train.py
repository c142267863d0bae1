"""Training and validation of the demonstration triage models, and the two shipped packages."""

from __future__ import annotations

import io
import itertools
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.triage.series import hu_series
from triage.core.framing import frame_head
from triage.core.metrics import (
    bootstrap_auc_ci,
    choose_threshold,
    expected_calibration_error,
    fit_temperature,
    is_separated,
    probability_threshold,
    reliability_table,
    roc_auc,
    sensitivity_specificity,
    sigmoid,
    wilson_interval,
)
from triage.core.nets import (
    ChestXRMapEnsemble,
    ChestXRMapNet,
    HeadCTMapEnsemble,
    HeadCTMapNet,
    HeadCTNet,
)
from triage.core.package import (
    CALIBRATION_FILENAME,
    CARD_FILENAME,
    PackageError,
    load_package,
    sha256_file,
)
from triage.core.phantoms.head_ct import head_ct_phantom
from triage.core.pipeline import prepare_input, run_model
from triage.core.preprocess import WINDOWS, window
from triage.core.shifted import shifted_sources
from triage.core.train import (
    RECIPES,
    _crops,
    goal_check,
    goal_text,
    input_spec,
    make_example,
    train_model,
)

PACKAGES = Path(__file__).resolve().parents[2] / "triage" / "packages"
SHIPPED = ("head-ct-ich", "cxr-pneumothorax")


def _shipped_version(name: str) -> str:
    return json.loads((PACKAGES / name / CARD_FILENAME).read_text())["version"]


# Both shipped models are made by this code's recipes (2.x): each carries a calibration record,
# shifted families and a smoke set. (Version 1, made by the training code of commit f97998a,
# carried none of them; the chest's was replaced by its version 2 on 2026-12-07.)
SHIPPED_V2 = tuple(name for name in SHIPPED if _shipped_version(name).startswith("2."))

# Small enough for a test: a few examples at a small matrix, a few steps.
TINY = {
    "n_train": 8,
    "n_calibration": 8,
    "n_held_out": 8,
    "n_family": 0,
    "steps": 3,
    "volumes_per_step": 4,
    "size": 32,
}
TINY_CT = {**TINY, "slices": 6}


def _tiny(name: str) -> dict:
    return TINY_CT if RECIPES[name].kind == "ct-volume" else TINY


def brute_force_auc(labels, scores) -> float:
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


# --- metrics -------------------------------------------------------------------------------


def test_auc_matches_a_hand_computation_with_ties():
    labels = [1, 0, 1, 0, 1]
    scores = [0.9, 0.9, 0.4, 0.2, 0.4]
    # Positive-negative pairs: (.9,.9) half, (.9,.2) win, (.4,.9) loss twice, (.4,.2) win twice.
    assert roc_auc(labels, scores) == pytest.approx(3.5 / 6)
    assert roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert roc_auc([0, 0, 1, 1], [0.4, 0.3, 0.2, 0.1]) == 0.0
    assert roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5


def test_auc_matches_pairwise_counting_on_heavily_tied_scores():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 200)
    scores = rng.integers(0, 6, 200).astype(float)  # six distinct values: ties everywhere
    assert roc_auc(labels, scores) == pytest.approx(brute_force_auc(labels, scores))


def test_auc_needs_both_classes_and_binary_labels():
    with pytest.raises(ValueError, match="positive and one negative"):
        roc_auc([1, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match="0 or 1"):
        roc_auc([0, 2], [0.2, 0.3])


def test_bootstrap_ci_contains_the_estimate_and_is_reproducible():
    rng = np.random.default_rng(5)
    labels = np.r_[np.ones(60), np.zeros(60)]
    scores = labels * 1.0 + rng.normal(0.0, 1.0, 120)
    auc = roc_auc(labels, scores)
    lo, hi = bootstrap_auc_ci(labels, scores, n_resamples=1000, seed=11)
    assert 0.0 <= lo < auc < hi <= 1.0
    assert hi - lo < 0.3
    assert bootstrap_auc_ci(labels, scores, n_resamples=1000, seed=11) == (lo, hi)
    assert bootstrap_auc_ci(labels, scores, n_resamples=1000, seed=12) != (lo, hi)


@pytest.mark.parametrize("true_temperature", [0.5, 1.0, 2.5])
def test_temperature_fit_recovers_a_known_temperature(true_temperature):
    rng = np.random.default_rng(7)
    calibrated = rng.normal(0.0, 2.0, 20000)
    labels = rng.random(20000) < sigmoid(calibrated)
    logits = calibrated * true_temperature  # what an over/under-confident model would output
    for prior_sd in (1.0, None):
        fitted = fit_temperature(logits, labels, prior_sd=prior_sd)
        assert fitted == pytest.approx(true_temperature, rel=0.05)
    # Dividing by the fitted temperature brings the calibration error down to sampling noise.
    fitted = fit_temperature(logits, labels)
    assert expected_calibration_error(labels, sigmoid(logits / fitted)) < 0.02


def test_temperature_on_separated_data_stays_finite_with_the_prior():
    labels = np.r_[np.ones(50), np.zeros(50)]
    logits = np.r_[np.linspace(2, 6, 50), np.linspace(-6, -2, 50)]
    assert is_separated(labels, logits)
    assert fit_temperature(logits, labels, prior_sd=None) == pytest.approx(0.01, rel=0.05)
    assert 0.05 < fit_temperature(logits, labels) < 1.0


def test_ece_and_reliability_table_by_hand():
    labels = [0, 1, 1, 1]
    probs = [0.1, 0.1, 0.9, 0.9]
    # Bin 0.1-0.2: predicted 0.1, observed 0.5; bin 0.9-1.0: predicted 0.9, observed 1.0.
    assert expected_calibration_error(labels, probs) == pytest.approx(0.5 * 0.4 + 0.5 * 0.1)
    table = reliability_table(labels, probs)
    assert len(table) == 10
    assert sum(row["n"] for row in table) == 4
    assert table[1] == {"bin": [0.1, 0.2], "n": 2, "mean_predicted": 0.1, "observed": 0.5}
    assert table[9]["observed"] == 1.0
    assert table[5]["mean_predicted"] is None


@pytest.mark.parametrize("target", [0.8, 0.95, 1.0])
def test_threshold_reaches_the_target_sensitivity_on_its_data(target):
    rng = np.random.default_rng(9)
    labels = np.r_[np.ones(101), np.zeros(99)]
    logits = 1.5 * labels + rng.normal(0.0, 1.0, 200)
    threshold = choose_threshold(labels, logits, min_sensitivity=target)
    at = sensitivity_specificity(labels, logits, threshold)
    assert at["sensitivity"] >= target
    # The specificity is that of the highest threshold reaching the target (the k-th highest
    # positive score), and no sensitivity is given away at that specificity.
    positives = np.sort(logits[labels == 1])[::-1]
    edge = positives[math.ceil(target * len(positives)) - 1]
    at_edge = sensitivity_specificity(labels, logits, edge)
    assert at["specificity"] == at_edge["specificity"]
    assert at["sensitivity"] >= at_edge["sensitivity"]
    negatives = logits[labels == 0]
    assert not np.any((negatives >= threshold) & (negatives < edge))
    assert np.any((negatives < threshold) & (negatives > threshold - 1.0))  # it is tight
    # And once a temperature and float32 inference are applied, the same cases are flagged.
    temperature = 1.7
    p_threshold = probability_threshold(threshold, temperature)
    p32 = torch.sigmoid(torch.tensor(logits, dtype=torch.float32) / temperature).numpy()
    assert sensitivity_specificity(labels, p32, p_threshold) == at


def test_threshold_leaves_a_margin_on_separated_scores():
    labels = [1, 1, 1, 0, 0]
    scores = [5.0, 4.0, 3.0, 1.0, 0.0]
    # Midway across the gap: all positives flagged, no negative.
    assert choose_threshold(labels, scores, min_sensitivity=0.95) == 2.0
    assert choose_threshold(labels, scores, min_sensitivity=0.5) == 2.0
    assert choose_threshold([1, 1], [3.0, 2.0]) == 2.0  # no negatives: the lowest positive
    # Overlap: the 2nd positive (4.0) is needed for 0.6; the negative at 3.5 sits below it.
    assert choose_threshold([1, 1, 0, 1, 0], [5.0, 4.0, 3.5, 3.0, 6.0], min_sensitivity=0.6) == 3.75


def test_wilson_interval():
    assert wilson_interval(0, 0) is None
    lo, hi = wilson_interval(19, 20)
    assert lo < 0.95 < hi <= 1.0
    assert wilson_interval(20, 20)[1] == 1.0


# --- training ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SHIPPED)
def test_a_tiny_training_run_is_reproducible_and_loads(name, tmp_path):
    tiny = _tiny(name)
    run = {"overrides": tiny, "bootstrap": 50, "workers": 1}
    first = train_model(name, seed=3, out_dir=tmp_path / "a", **run)
    second = train_model(name, seed=3, out_dir=tmp_path / "b", **run)
    assert first["weights_sha256"] == second["weights_sha256"]
    assert first["state_sha256"] == second["state_sha256"]
    assert first["threshold"] == second["threshold"]
    assert first["held_out"] == second["held_out"]
    other = train_model(name, seed=4, out_dir=tmp_path / "c", **run)
    assert other["state_sha256"] != first["state_sha256"]

    loaded = load_package(Path(first["directory"]))
    assert loaded.name == name and loaded.version == RECIPES[name].version
    assert loaded.weights_sha256 == first["weights_sha256"]
    card = loaded.card
    assert card.input.size == tiny["size"]
    assert card.thresholds == {RECIPES[name].finding_code: first["threshold"]}
    assert card.calibration["method"] == "temperature"
    assert card.calibration["file"] == CALIBRATION_FILENAME
    assert card.monitoring["expected_positive_rate"] > 0
    assert set(card.validation) >= {"held_out", "shifted", "auc", "auc_ci95", "n"}
    assert card.raw["training"]["seed"] == 3
    batch = torch.zeros(card.input.example_shape(batch=2))
    assert loaded.predict(batch)[RECIPES[name].finding_code].shape == (2,)


def test_the_calibration_record_is_pinned_with_the_weights(tmp_path):
    run = {"overrides": TINY, "bootstrap": 20, "workers": 1}
    summary = train_model("cxr-pneumothorax", out_dir=tmp_path, **run)
    directory = Path(summary["directory"])
    record = json.loads((directory / CALIBRATION_FILENAME).read_text())
    assert record["thresholds"] == {"pneumothorax": summary["threshold"]}
    assert record["temperature"] == summary["temperature"]
    assert "sensitivity >= 0.95" in record["target"] and record["why"]
    assert len(record["roc_after_calibration"]) >= 2 and record["reliability_after"]
    # A record that no longer matches its pin is refused, as changed weights are.
    (directory / CALIBRATION_FILENAME).write_text(json.dumps({**record, "temperature": 9.0}))
    with pytest.raises(PackageError, match="calibration record"):
        load_package(directory)


def test_shifted_families_are_scored_through_the_dicom_path_and_reported(tmp_path):
    overrides = {**TINY, "n_family": 2}
    summary = train_model(
        "cxr-pneumothorax", out_dir=tmp_path, overrides=overrides, bootstrap=20, workers=1
    )
    families = {f["family"]: f for f in summary["shifted"]}
    assert "simulator" in families
    report = families["simulator"]
    assert report["n"] == 2 and report["n_positive"] == 1
    assert {"sensitivity", "specificity", "studies_held_back", "true_flags_withheld"} <= set(
        report["with_input_checks"]
    )
    card = json.loads((tmp_path / "cxr-pneumothorax" / CARD_FILENAME).read_text())
    assert card["smoke"]["source"] == "simulator" and len(card["smoke"]["cases"]) == 2


def test_an_existing_package_is_not_overwritten_without_asking(tmp_path):
    run = {"overrides": TINY, "bootstrap": 20, "workers": 1}
    train_model("cxr-pneumothorax", out_dir=tmp_path, **run)
    with pytest.raises(FileExistsError, match="overwrite"):
        train_model("cxr-pneumothorax", out_dir=tmp_path, **run)
    train_model("cxr-pneumothorax", out_dir=tmp_path, overwrite=True, **run)


def test_fine_tuning_starts_from_a_package_and_says_so(tmp_path):
    run = {"bootstrap": 20, "workers": 1}
    parent = train_model("cxr-pneumothorax", out_dir=tmp_path / "a", overrides=TINY, **run)
    parent_dir = Path(parent["directory"])
    child = train_model(
        "cxr-pneumothorax", out_dir=tmp_path / "b", init=parent_dir,
        overrides={**TINY, "steps": 1, "lr": 1e-9, "version": "2.0.1"}, **run,
    )  # fmt: skip
    card = load_package(Path(child["directory"])).card
    assert card.version == "2.0.1"
    assert card.raw["training"]["initialised_from"] == {
        "name": "cxr-pneumothorax",
        "version": RECIPES["cxr-pneumothorax"].version,
        "weights_sha256": parent["weights_sha256"],
    }
    command = card.raw["training"]["command"]
    assert f"--init {parent_dir}" in command and "--model-version 2.0.1" in command
    assert "--lr 1e-09" in command and "--steps 1" in command
    # One step at a vanishing rate leaves the parent's weights all but unchanged; a run from
    # scratch with the same seed does not start there.
    parent_state = load_package(parent_dir).module.state_dict()
    child_state = load_package(Path(child["directory"])).module.state_dict()
    scratch = train_model(
        "cxr-pneumothorax", out_dir=tmp_path / "c",
        overrides={**TINY, "steps": 1, "lr": 1e-9, "version": "2.0.1"}, **run,
    )  # fmt: skip
    scratch_state = load_package(Path(scratch["directory"])).module.state_dict()
    key = next(k for k, v in parent_state.items() if v.dtype.is_floating_point and v.numel() > 8)
    assert torch.allclose(child_state[key], parent_state[key], atol=1e-6)
    assert not torch.allclose(scratch_state[key], parent_state[key], atol=1e-6)


def test_the_chest_is_several_seeds_averaged_and_the_first_is_the_single_run(tmp_path):
    """An ensemble's member 0 is exactly the network a one-member run of the same seed trains
    (same phantoms, same initial weights, same batches), the others start from seeds of their
    own, and the card says how it was made."""
    run = {"bootstrap": 20, "workers": 1, "seed": 4}
    single = train_model(
        "cxr-pneumothorax", out_dir=tmp_path / "one", overrides={**TINY, "members": 1}, **run
    )
    double = train_model(
        "cxr-pneumothorax", out_dir=tmp_path / "two", overrides={**TINY, "members": 2}, **run
    )
    alone = load_package(Path(single["directory"])).module
    pair = load_package(Path(double["directory"]))
    assert isinstance(alone, ChestXRMapNet) and isinstance(pair.module, ChestXRMapEnsemble)
    first, second = (m.state_dict() for m in pair.module.members)
    assert all(torch.equal(first[k], v) for k, v in alone.state_dict().items())
    assert not all(torch.equal(second[k], v) for k, v in alone.state_dict().items())
    training = pair.card.raw["training"]
    assert training["members"] == 2 and training["member_seeds"][0] == 4
    assert len(set(training["member_seeds"])) == 2
    assert "--members 2" in training["command"]
    assert len(training["loss_per_tenth"]) == 2 * len(single["loss_per_tenth"])


def test_only_a_recipe_with_an_ensemble_network_takes_members(tmp_path, monkeypatch):
    # Both shipped recipes have an ensemble network; the first networks (version 1) had none.
    monkeypatch.setitem(RECIPES, "head-ct-ich", replace(RECIPES["head-ct-ich"], net=HeadCTNet))
    with pytest.raises(ValueError, match="members must be 1"):
        train_model("head-ct-ich", out_dir=tmp_path, overrides={**TINY_CT, "members": 2})
    with pytest.raises(ValueError, match="members must be a positive integer"):
        train_model("cxr-pneumothorax", out_dir=tmp_path, overrides={**TINY, "members": 0})


def test_a_shipped_head_network_grows_into_an_ensemble_without_training_it_again(tmp_path):
    """--first-member takes a package's single network as member 0 and trains only the others:
    the ensemble is bit for bit the one a run training every member makes, and its card says
    where member 0 came from."""
    run = {"bootstrap": 20, "workers": 1, "seed": 3}
    single = train_model(
        "head-ct-ich", out_dir=tmp_path / "one",
        overrides={**TINY_CT, "members": 1, "version": "9.0.0"}, **run,
    )  # fmt: skip
    grown = train_model(
        "head-ct-ich", out_dir=tmp_path / "grown", first_member=Path(single["directory"]),
        overrides={**TINY_CT, "members": 2, "version": "9.1.0"}, **run,
    )  # fmt: skip
    scratch = train_model(
        "head-ct-ich", out_dir=tmp_path / "scratch",
        overrides={**TINY_CT, "members": 2, "version": "9.1.0"}, **run,
    )  # fmt: skip
    alone = load_package(Path(single["directory"]))
    pair = load_package(Path(grown["directory"]))
    assert isinstance(alone.module, HeadCTMapNet)
    assert isinstance(pair.module, HeadCTMapEnsemble)
    first = pair.module.members[0].state_dict()
    assert all(torch.equal(first[k], v) for k, v in alone.module.state_dict().items())
    again = load_package(Path(scratch["directory"])).module.state_dict()
    assert all(torch.equal(again[k], v) for k, v in pair.module.state_dict().items())
    training = pair.card.raw["training"]
    assert training["first_member_from"] == {
        "name": "head-ct-ich",
        "version": "9.0.0",
        "weights_sha256": alone.card.weights.sha256,
    }
    assert f"--first-member {single['directory']}" in training["command"]
    assert training["loss_per_tenth"][: len(single["loss_per_tenth"])] == [
        round(v, 5) for v in single["loss_per_tenth"]
    ]
    # The averaged network reads a study as the worker does: one logit a volume.
    volume = torch.zeros(2, 6, 3, 32, 32)
    assert pair.module(volume).shape == (2, 1)


def test_a_first_member_must_be_the_same_run(tmp_path):
    run = {"bootstrap": 20, "workers": 1, "seed": 3}
    single = Path(
        train_model(
            "head-ct-ich", out_dir=tmp_path / "one",
            overrides={**TINY_CT, "members": 1, "version": "9.0.0"}, **run,
        )["directory"]
    )  # fmt: skip
    two = {**TINY_CT, "members": 2, "version": "9.1.0"}
    pair = Path(
        train_model("head-ct-ich", out_dir=tmp_path / "pair", overrides=two, **run)["directory"]
    )
    refused = [  # (why, model, first member, overrides, other arguments)
        (r"training\.steps is 3, this run's 4", "head-ct-ich", single, {**two, "steps": 4}, {}),
        (r"training\.seed is 3, this run's 5", "head-ct-ich", single, two, {"seed": 5}),
        ("needs an ensemble", "head-ct-ich", single, {**two, "members": 1}, {}),
        ("do not go together", "head-ct-ich", single, two, {"init": single}),
        ("not cxr-pneumothorax", "cxr-pneumothorax", single, {**TINY, "members": 2}, {}),
        ("is a HeadCTMapEnsemble, not one HeadCTMapNet", "head-ct-ich", pair,
         {**two, "version": "9.2.0"}, {}),
    ]  # fmt: skip
    for index, (why, name, first, overrides, other) in enumerate(refused):
        with pytest.raises(ValueError, match=why):
            train_model(
                name, out_dir=tmp_path / str(index), first_member=first, overrides=overrides,
                **{**run, **other},
            )  # fmt: skip
    with pytest.raises(CommandError, match=r"--first-member: .*no model.json"):
        call_command(
            "train_triage_model", "head-ct-ich", "--first-member", str(tmp_path / "none"),
            "--members", "2", "--model-version", "9.1.0", "--out", str(tmp_path / "h"),
            stdout=io.StringIO(), stderr=io.StringIO(),
        )  # fmt: skip


def test_fine_tuning_refuses_a_package_with_another_number_of_members(tmp_path):
    run = {"bootstrap": 20, "workers": 1}
    parent = train_model(
        "cxr-pneumothorax", out_dir=tmp_path / "a", overrides={**TINY, "members": 1}, **run
    )
    with pytest.raises(ValueError, match="pass --members as the package was trained"):
        train_model(
            "cxr-pneumothorax", out_dir=tmp_path / "b", init=Path(parent["directory"]),
            overrides={**TINY, "members": 2, "version": "2.0.1"}, **run,
        )  # fmt: skip


def test_fine_tuning_refuses_another_model_or_the_same_version(tmp_path):
    run = {"bootstrap": 20, "workers": 1}
    parent = Path(
        train_model("cxr-pneumothorax", out_dir=tmp_path, overrides=TINY, **run)["directory"]
    )
    with pytest.raises(ValueError, match="version of its own"):
        train_model("cxr-pneumothorax", out_dir=tmp_path / "b", init=parent, overrides=TINY, **run)
    with pytest.raises(ValueError, match="not head-ct-ich"):
        train_model(
            "head-ct-ich", out_dir=tmp_path / "c", init=parent,
            overrides={**TINY_CT, "version": "9.0.0"}, **run,
        )  # fmt: skip


def test_the_command_says_what_is_wrong_with_the_package_to_fine_tune(tmp_path):
    with pytest.raises(CommandError, match=r"--init: .*no model.json"):
        call_command(
            "train_triage_model", "cxr-pneumothorax", "--init", str(tmp_path / "none"),
            "--model-version", "2.0.1", "--out", str(tmp_path),
            stdout=io.StringIO(), stderr=io.StringIO(),
        )  # fmt: skip


def test_unknown_recipe():
    with pytest.raises(KeyError, match="head-ct-ich, cxr-pneumothorax"):
        train_model("mr-lesion", out_dir="/nonexistent")


def test_command_rejects_an_unknown_model_naming_the_known_ones():
    with pytest.raises(CommandError, match="head-ct-ich, cxr-pneumothorax"):
        call_command("train_triage_model", "mr-lesion")


def test_command_trains_writes_and_summarises_with_a_progress_bar(tmp_path):
    out, err = io.StringIO(), io.StringIO()
    args = ("--train", "4", "--calibration", "4", "--held-out", "4", "--family", "0")
    args += ("--steps", "2", "--seed", "1", "--workers", "1")
    call_command(
        "train_triage_model", "cxr-pneumothorax", *args, "--out", str(tmp_path),
        "--bootstrap", "20", stdout=out, stderr=err,
    )  # fmt: skip
    assert (tmp_path / "cxr-pneumothorax" / CARD_FILENAME).is_file()
    text = out.getvalue()
    assert "held-out" in text and "95% CI" in text and "checked: sens" in text
    assert "AUC (0 to 1" in text
    assert "not for clinical use" in text
    progress = err.getvalue()
    assert "drawing train" in progress and "[" in progress and "100%" in progress
    assert "training 100% done" in progress
    assert "\r" not in progress  # plain lines when not on a terminal
    with pytest.raises(CommandError, match="--overwrite"):
        call_command(
            "train_triage_model", "cxr-pneumothorax", *args, "--out", str(tmp_path),
            stdout=io.StringIO(), stderr=io.StringIO(),
        )  # fmt: skip


# --- training data are what inference sees ---------------------------------------------------


def test_ct_training_input_is_what_the_pipeline_makes_of_the_same_images():
    recipe = RECIPES["head-ct-ich"]
    example = make_example(recipe, np.random.default_rng([5, 1, 0]), positive=True)
    phantom = head_ct_phantom(np.random.default_rng([5, 1, 0]), positive=True)
    prepared, checks = prepare_input(input_spec(recipe), hu_series(phantom.hu, phantom.spacing_mm))
    assert not checks
    trained_on = np.stack(
        [window(example.x.astype(np.float32), *WINDOWS[w]) for w in recipe.windows], axis=1
    )
    assert trained_on.shape == prepared.array.shape == (24, 3, recipe.size, recipe.size)
    # Only float16 storage and the integer rounding of stored HU differ.
    assert np.abs(trained_on - prepared.array).max() < 0.02


def test_chest_training_crops_follow_the_map_grid_and_are_labelled_by_what_they_hold():
    recipe = RECIPES["cxr-pneumothorax"]
    assert (recipe.size, recipe.crop) == (256, 128)  # the worker reads the whole 256 film
    n, cells, crop_cells = 16, recipe.size // 4, recipe.crop // 4
    # Each pixel holds the number of its map cell, so a crop tells where it was cut.
    rows, cols = np.indices((recipe.size, recipe.size)) // 4
    x = np.broadcast_to((rows * cells + cols).astype(np.float32), (n, 1, *rows.shape))
    t = np.zeros((n, cells, cells), np.uint8)
    t[::2, 5:9, 50:58] = 255  # the positives' pneumothorax, high on one side
    crops, targets, labels = _crops(recipe, x, t, np.random.default_rng(3))
    assert crops.shape == (n, 1, recipe.crop, recipe.crop)
    assert targets.shape == (n, crop_cells, crop_cells)
    for i in range(n):
        oy, ox = divmod(int(crops[i, 0, 0, 0]), cells)
        assert np.array_equal(crops[i, 0], x[i, 0, oy * 4 : oy * 4 + 128, ox * 4 : ox * 4 + 128])
        assert np.array_equal(targets[i], t[i, oy : oy + crop_cells, ox : ox + crop_cells])
    # Labelled by what the crop holds: the normals never, most positives' crops over the lesion.
    assert np.array_equal(labels, (targets.reshape(n, -1).max(axis=1) > 25).astype(np.float32))
    assert labels[1::2].sum() == 0 and labels[::2].sum() >= 5


def test_framing_makes_a_head_the_same_whatever_the_matrix_and_position():
    phantom = head_ct_phantom(np.random.default_rng([5, 1, 2]), positive=False)
    hu = phantom.hu
    moved = np.full((hu.shape[0], hu.shape[1] * 2, hu.shape[2] * 2), -1024.0, np.float32)
    moved[:, 10 : 10 + hu.shape[1], 40 : 40 + hu.shape[2]] = hu
    a = frame_head(hu, size=64, slices=24).hu
    b = frame_head(moved, size=64, slices=24).hu
    assert np.abs(a - b).mean() < 3.0


def test_the_card_says_family_by_family_where_a_model_falls_short_of_the_goal():
    shifted = [
        {"family": "simulator", "auc": 0.981, "sensitivity": 0.95, "specificity": 0.92},
        {"family": "scanner", "auc": 0.849, "sensitivity": 0.94, "specificity": 0.30},
        {"family": "geometric", "auc": 0.975, "sensitivity": None, "specificity": 0.97},
    ]
    check = goal_check(shifted)
    assert check["goal"] == {"auc": 0.97, "sensitivity": 0.9, "specificity": 0.9}
    assert check["met"] is False
    assert check["families"]["simulator"] == {"met": True, "short": {}}
    assert check["families"]["scanner"]["short"] == {"auc": 0.849, "specificity": 0.30}
    # A figure that could not be measured is no pass.
    assert check["families"]["geometric"]["short"] == {"sensitivity": None}
    text = goal_text(check)
    assert text.endswith(
        "not met (scanner auc 0.849, specificity 0.300; geometric sensitivity none)."
    )
    assert goal_text(goal_check(shifted[:1])).endswith(": met.")
    assert goal_check([])["met"] is False


# --- the shipped packages ------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped():
    return {name: load_package(PACKAGES / name) for name in SHIPPED}


@pytest.mark.parametrize("name", SHIPPED_V2)
def test_shipped_package_is_pinned_labelled_and_validated(name, shipped):
    model = shipped[name]
    card = json.loads((PACKAGES / name / CARD_FILENAME).read_text())
    weights = PACKAGES / name / card["weights"]["file"]
    assert sha256_file(weights) == card["weights"]["sha256"] == model.weights_sha256
    record = PACKAGES / name / card["calibration"]["file"]
    assert sha256_file(record) == card["calibration"]["sha256"]
    assert weights.stat().st_size < 5_000_000
    assert model.card.not_for_clinical_use is True
    assert "not for clinical use" in model.card.label.lower()
    assert model.version == RECIPES[name].version

    validation = model.card.validation
    threshold = model.card.findings[0].threshold
    results = [validation["held_out"], *validation["shifted"]]
    assert len(validation["shifted"]) >= 3  # the simulator and two independent families
    for result in results:
        assert result["n"] >= 100 and result["n_positive"] == result["n_negative"]
        lo, hi = result["auc_ci95"]
        assert 0.0 <= lo <= result["auc"] <= hi <= 1.0
        assert result["threshold"] == threshold
        assert result["sensitivity"] is not None and result["specificity"] is not None
    assert validation["dataset"]  # the held-out split's (also inside it, from this code on)
    for result in validation["shifted"]:
        assert result["dataset"] and result["family"]
    for family in validation["shifted"]:
        assert family["with_input_checks"]["true_flags_withheld"] >= 0
    assert validation["threshold_selection"]["sensitivity"] >= 0.95
    # The card says where the model falls short of the goal on the families, in words too.
    assert validation["goal"] == goal_check(validation["shifted"])
    assert goal_text(validation["goal"]) in validation["summary"]
    assert model.card.calibration["temperature"] > 0
    assert card["training"]["seed"] == 0 and card["training"]["torch_version"]


def test_shipped_packages_apply_where_they_should(shipped):
    ct, cxr = shipped["head-ct-ich"].card, shipped["cxr-pneumothorax"].card
    assert ct.applicability.applies_to("CT", "BRAIN")
    assert not ct.applicability.applies_to("MR", "HEAD")
    assert ct.input.kind == "ct-volume" and ct.input.size == 96 and ct.input.slices == 24
    assert ct.input.extra["framing"] == "head"
    assert [w.name for w in ct.input.windows] == ["brain", "subdural", "bone"]
    assert ct.findings[0].code == "ich"
    assert cxr.applicability.applies_to("DX", "CHEST")
    assert cxr.applicability.applies_to("CR", "THORAX")
    assert cxr.input.kind == "radiograph" and cxr.input.size == 256
    assert cxr.input.extra["checks"] == "radiograph"
    assert cxr.findings[0].code == "pneumothorax"
    # The chest is three networks of three seeds, averaged.
    assert cxr.weights.entry_point == "triage.core.nets:ChestXRMapEnsemble"
    assert shipped["cxr-pneumothorax"].card.raw["training"]["members"] == 3


@pytest.mark.parametrize("name", SHIPPED_V2)
def test_the_cards_smoke_set_replays_through_the_worker_pipeline(name, shipped):
    """CI does not retrain: it regenerates the card's smoke studies and expects the same answers."""
    model = shipped[name]
    smoke = model.card.raw["smoke"]
    _, draw = shifted_sources(name)[smoke["source"]]
    assert len(smoke["cases"]) >= 4
    assert {c["positive"] for c in smoke["cases"]} == {True, False}
    for case in smoke["cases"]:
        series = draw(np.random.default_rng([0, 7, 0, case["index"]]), case["positive"])
        outcome = run_model(model, series)
        if case["probability"] is None:
            assert outcome.status == "not_applicable"
            continue
        assert outcome.findings, outcome.reason
        probability = outcome.findings[0].probability
        assert probability == pytest.approx(case["probability"], abs=2e-3)
        assert any(outcome.flags.values()) == case["flagged"]
