"""Model packages: a card plus pinned weights, loaded only when the pin matches."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from triage.core import package as package_module
from triage.core.nets import (
    ChestXRMapEnsemble,
    ChestXRMapNet,
    ChestXRNet,
    HeadCTNet,
    parameter_count,
)
from triage.core.package import (
    CARD_FILENAME,
    LoadedModel,
    ModelCard,
    PackageError,
    discover,
    load_package,
    models_for,
    sha256_file,
    write_package,
)

SIZE = 32  # small images keep the tests fast; the nets take any size


def head_ct_card(**overrides: Any) -> dict[str, Any]:
    card: dict[str, Any] = {
        "name": "head-ct-demo",
        "version": "1.0.0",
        "intended_use": "Flags head CT with suspected haemorrhage for earlier reading.",
        "not_for_clinical_use": True,
        "label": "Synthetic demonstration model, not for clinical use",
        "applicability": {"modalities": ["CT"], "body_parts": ["HEAD"]},
        "input": {
            "kind": "ct-volume",
            "size": SIZE,
            "channels": 3,
            "windows": [
                {"name": "brain", "center": 40, "width": 80},
                {"name": "subdural", "center": 80, "width": 200},
                {"name": "bone", "center": 600, "width": 2800},
            ],
            "resample": "area",
        },
        "findings": [
            {
                "code": "ich",
                "display": "Intracranial haemorrhage",
                "threshold": 0.5,
                "snomed": "1386000",
            },
            {"code": "mass", "display": "Mass effect", "threshold": 0.6},
        ],
        "calibration": {"method": "none"},
        "training_data": "Synthetic phantoms: ellipsoid skulls with hyperdense blobs.",
        "validation": {
            "auc": 0.51,
            "auc_ci95": [0.45, 0.57],
            "n": 200,
            "dataset": "shifted phantoms",
        },
        "weights": {"init_kwargs": {"n_findings": 2, "in_channels": 3}},
    }
    card.update(overrides)
    return card


def chest_xr_card(**overrides: Any) -> dict[str, Any]:
    card = head_ct_card(
        name="chest-xr-demo",
        applicability={"modalities": ["CR", "DX"], "body_parts": ["CHEST"]},
        input={"kind": "radiograph", "size": SIZE, "channels": 1},
        findings=[{"code": "ptx", "display": "Pneumothorax", "threshold": 0.4}],
        weights={},
    )
    card.update(overrides)
    return card


def head_net() -> HeadCTNet:
    torch.manual_seed(0)
    net = HeadCTNet(n_findings=2, in_channels=3)
    # Move BatchNorm off its identity statistics so eval mode visibly differs from training.
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 2.0)
        net.head.weight.normal_(std=0.5)
    return net


def volume(batch: int = 2, slices: int = 4) -> torch.Tensor:
    return torch.randn(batch, slices, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))


def write_head_ct(directory: Path, *, format: str = "state_dict", **overrides: Any) -> Path:
    write_package(
        directory,
        card=head_ct_card(**overrides),
        module=head_net(),
        format=format,
        example_input=volume() if format == "torch.export" else None,
    )
    return directory


def edit_card(directory: Path, change) -> None:
    path = directory / CARD_FILENAME
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.fixture(scope="module")
def exported_head_ct(tmp_path_factory) -> Path:
    # Exporting takes a second or two; the tests that need a .pt2 share one.
    return write_head_ct(tmp_path_factory.mktemp("export") / "pkg", format="torch.export")


# --- loading and predicting ---------------------------------------------------------------


def test_a_state_dict_package_loads_and_predicts_probabilities(tmp_path):
    directory = write_head_ct(tmp_path / "pkg")

    model = load_package(directory)
    probabilities = model.predict(volume())

    assert set(probabilities) == {"ich", "mass"}
    for values in probabilities.values():
        assert values.shape == (2,)
        assert torch.all((values >= 0) & (values <= 1))
    assert (
        model.weights_sha256 == sha256_file(directory / "weights.pt") == model.card.weights.sha256
    )
    assert model.card.weights.entry_point == "triage.core.nets:HeadCTNet"
    assert model.card.thresholds == {"ich": 0.5, "mass": 0.6}
    assert model.card.input.extra == {"resample": "area"}
    assert not model.module.training


def test_the_loaded_weights_are_the_written_ones(tmp_path):
    net = head_net().eval()
    write_package(tmp_path / "pkg", card=head_ct_card(), module=net)

    model = load_package(tmp_path / "pkg")

    with torch.inference_mode():
        expected = torch.sigmoid(net(volume()))
    got = model.predict(volume())
    assert torch.allclose(got["ich"], expected[:, 0]) and torch.allclose(
        got["mass"], expected[:, 1]
    )


def test_an_exported_package_gives_the_same_outputs_as_the_state_dict(tmp_path, exported_head_ct):
    from_state_dict = load_package(write_head_ct(tmp_path / "pkg"))
    exported = load_package(exported_head_ct)

    assert exported.card.weights.format == "torch.export"
    assert (exported_head_ct / "model.pt2").is_file()
    for batch, slices in [(2, 4), (1, 7), (3, 1)]:  # batch and slice count stay dynamic
        a = from_state_dict.predict(volume(batch, slices))
        b = exported.predict(volume(batch, slices))
        assert set(a) == set(b) == {"ich", "mass"}
        for code in a:
            assert b[code].shape == (batch,)
            assert torch.allclose(a[code], b[code], atol=1e-5)


def test_a_chest_radiograph_package_exports_too(tmp_path):
    torch.manual_seed(0)
    net = ChestXRNet(n_findings=1)
    write_package(
        tmp_path / "pkg",
        card=chest_xr_card(),
        module=net,
        format="torch.export",
        example_input=torch.randn(1, 1, SIZE, SIZE),
    )

    model = load_package(tmp_path / "pkg")

    assert model.predict(torch.randn(5, 1, SIZE, SIZE))["ptx"].shape == (5,)


def test_predict_refuses_a_batch_of_the_wrong_layout(tmp_path):
    model = load_package(write_head_ct(tmp_path / "pkg"))

    with pytest.raises(ValueError, match=r"\(N, slices, channels, H, W\)"):
        model.predict(torch.zeros(2, 3, SIZE, SIZE))


# --- pinning ------------------------------------------------------------------------------


def test_a_tampered_weights_file_is_refused_naming_both_hashes(tmp_path):
    directory = write_head_ct(tmp_path / "pkg")
    weights = directory / "weights.pt"
    pinned = sha256_file(weights)
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    actual = sha256_file(weights)

    with pytest.raises(PackageError) as refused:
        load_package(directory)

    message = str(refused.value)
    assert actual in message and pinned in message
    assert "changed or corrupted; refusing to load" in message
    assert refused.value.path == directory


def test_a_tampered_export_is_refused(tmp_path, exported_head_ct):
    directory = tmp_path / "pkg"
    directory.mkdir()
    (directory / CARD_FILENAME).write_bytes((exported_head_ct / CARD_FILENAME).read_bytes())
    data = bytearray((exported_head_ct / "model.pt2").read_bytes())
    data[-100] ^= 0xFF
    (directory / "model.pt2").write_bytes(bytes(data))

    with pytest.raises(PackageError, match="refusing to load"):
        load_package(directory)


def test_unpinned_weights_are_refused(tmp_path):
    directory = write_head_ct(tmp_path / "pkg")
    edit_card(directory, lambda card: card["weights"].pop("sha256"))

    with pytest.raises(PackageError, match=r"unpinned weights: add weights\.sha256 to model\.json"):
        load_package(directory)


def test_a_missing_weights_file_is_refused(tmp_path):
    directory = write_head_ct(tmp_path / "pkg")
    (directory / "weights.pt").unlink()

    with pytest.raises(PackageError, match=r"weights file weights\.pt is missing"):
        load_package(directory)


def test_an_entry_point_outside_triage_is_refused_without_importing_it(tmp_path, monkeypatch):
    directory = write_head_ct(tmp_path / "pkg")
    edit_card(directory, lambda card: card["weights"].update(entry_point="os:system"))

    def no_import(name):
        raise AssertionError(f"imported {name}")

    monkeypatch.setattr(package_module.importlib, "import_module", no_import)
    with pytest.raises(PackageError, match="'os:system' is outside the allowed module prefixes"):
        load_package(directory)


def test_an_entry_point_in_triage_but_outside_triage_core_is_refused(tmp_path, monkeypatch):
    # triage.services and the rest import Django and the server: only triage.core holds models.
    directory = write_head_ct(tmp_path / "pkg")
    edit_card(
        directory, lambda card: card["weights"].update(entry_point="triage.services:TriageRun")
    )

    def no_import(name):
        raise AssertionError(f"imported {name}")

    monkeypatch.setattr(package_module.importlib, "import_module", no_import)
    with pytest.raises(
        PackageError,
        match=r"'triage\.services:TriageRun' is outside the allowed module prefixes "
        r"\('triage\.core\.',\); refusing to import code named in model\.json",
    ):
        load_package(directory)


def test_a_lookalike_module_name_is_not_inside_the_prefix(tmp_path):
    directory = write_head_ct(tmp_path / "pkg")
    edit_card(
        directory, lambda card: card["weights"].update(entry_point="triage_evil.nets:HeadCTNet")
    )

    with pytest.raises(PackageError, match="outside the allowed module prefixes"):
        load_package(directory)


def test_weights_that_do_not_fit_the_architecture_are_refused(tmp_path):
    directory = write_head_ct(tmp_path / "pkg")
    edit_card(
        directory,
        lambda card: card["weights"].update(init_kwargs={"n_findings": 1, "in_channels": 3}),
    )

    with pytest.raises(PackageError, match=r"do not fit triage\.core\.nets:HeadCTNet"):
        load_package(directory)


def test_a_model_with_more_outputs_than_findings_is_refused_at_load(tmp_path):
    card = head_ct_card(findings=head_ct_card()["findings"][:1])

    write_package(tmp_path / "pkg", card=card, module=head_net())

    with pytest.raises(PackageError, match=r"the card lists 1 finding"):
        load_package(tmp_path / "pkg")


# --- the card -----------------------------------------------------------------------------


def _set(path: str, value: Any):
    def change(card: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = card
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if value is _MISSING:
            del target[last]
        else:
            target[last] = value

    return change


_MISSING = object()
_PINNED = {
    "format": "state_dict",
    "file": "weights.pt",
    "sha256": "ab" * 32,
    "entry_point": "triage.core.nets:HeadCTNet",
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (_set("version", "1.0"), "version"),
        (_set("version", "v1.0.0"), "version"),
        (_set("name", "Head CT"), "name"),
        (_set("intended_use", _MISSING), "intended_use"),
        (_set("training_data", _MISSING), "training_data"),
        (_set("validation", _MISSING), "validation"),
        (_set("not_for_clinical_use", "yes"), "not_for_clinical_use"),
        (_set("label", "Demonstration model"), "label"),
        (_set("applicability.modalities", []), "applicability.modalities"),
        (_set("input.kind", "mri-volume"), "input.kind"),
        (_set("input.size", 0), "input.size"),
        (_set("input.channels", 2), "input.channels"),
        (_set("input.windows", _MISSING), "input.windows"),
        (_set("findings", []), "findings"),
        (_set("findings.1.threshold", 1.5), "findings[1].threshold"),
        (_set("findings.0.threshold", -0.1), "findings[0].threshold"),
        (_set("findings.0.threshold", "0.5"), "findings[0].threshold"),
        (_set("findings.1.code", "ich"), "findings[1].code"),
        (_set("findings.0.snomed", "ICH"), "findings[0].snomed"),
        (_set("calibration.method", "isotonic"), "calibration.method"),
        (
            _set("calibration", {"method": "temperature", "temperature": 0}),
            "calibration.temperature",
        ),
        (_set("weights.format", "pickle"), "weights.format"),
        (_set("weights.file", "../elsewhere.pt"), "weights.file"),
        (_set("weights.sha256", "not-a-hash"), "weights.sha256"),
        (_set("weights.entry_point", _MISSING), "weights.entry_point"),
        (_set("weights.entry_point", "os.system"), "weights.entry_point"),
    ],
)
def test_a_bad_card_is_refused_naming_the_field(change, field):
    card = head_ct_card(weights=dict(_PINNED))
    change(card)

    with pytest.raises(PackageError) as refused:
        ModelCard.from_dict(card, path="/models/pkg/model.json")

    assert f"model.json: {field}: " in str(refused.value)


def test_a_good_card_parses(tmp_path):
    card = ModelCard.from_dict(head_ct_card(weights=dict(_PINNED), version="2.1.0-rc.1+build.5"))

    assert card.version == "2.1.0-rc.1+build.5"
    assert card.input.windows[0].name == "brain" and card.input.windows[2].width == 2800
    assert card.findings[0].snomed == "1386000" and card.findings[1].snomed is None
    assert card.not_for_clinical_use and "not for clinical use" in card.label


def test_a_clinical_card_needs_no_demonstration_label():
    card = head_ct_card(weights=dict(_PINNED), not_for_clinical_use=False)
    del card["label"]

    assert ModelCard.from_dict(card).label == ""


def test_load_package_reports_card_errors_against_model_json(tmp_path):
    directory = write_head_ct(tmp_path / "pkg")
    edit_card(directory, _set("version", "1"))

    with pytest.raises(
        PackageError, match=r"model\.json: version: must be a semantic version"
    ) as refused:
        load_package(directory)
    assert refused.value.path == directory


def test_write_package_refuses_a_bad_card_before_writing_anything(tmp_path):
    with pytest.raises(PackageError, match=r"findings\[0\]\.threshold"):
        write_package(
            tmp_path / "pkg",
            card=head_ct_card(findings=[{"code": "ich", "display": "ICH", "threshold": 2}]),
            module=head_net(),
        )
    assert not (tmp_path / "pkg").exists()


def test_write_package_does_not_overwrite_a_published_version(tmp_path):
    write_head_ct(tmp_path / "pkg")

    with pytest.raises(FileExistsError):
        write_head_ct(tmp_path / "pkg")


# --- discovery ----------------------------------------------------------------------------


def test_discover_loads_good_packages_and_reports_broken_ones(tmp_path, exported_head_ct):
    write_head_ct(tmp_path / "a-head")
    torch.manual_seed(0)
    write_package(tmp_path / "b-chest", card=chest_xr_card(), module=ChestXRNet())
    tampered = write_head_ct(tmp_path / "c-tampered", name="tampered")
    (tampered / "weights.pt").write_bytes(b"not the pinned weights")
    (tmp_path / "d-not-json").mkdir()
    (tmp_path / "d-not-json" / CARD_FILENAME).write_text("{not json")
    unpinned = write_head_ct(tmp_path / "e-unpinned", name="unpinned")
    edit_card(unpinned, lambda card: card["weights"].pop("sha256"))
    (tmp_path / "f-no-card").mkdir()
    write_head_ct(tmp_path / ".incoming", name="incoming")
    (tmp_path / "README.txt").write_text("drop packages here")

    loaded, errors = discover(tmp_path)

    assert [(m.name, m.card.weights.format) for m in loaded] == [
        ("head-ct-demo", "state_dict"),
        ("chest-xr-demo", "state_dict"),
    ]
    assert [error.path.name for error in errors] == [
        "c-tampered",
        "d-not-json",
        "e-unpinned",
    ]
    assert "not valid JSON" in errors[1].message and "unpinned" in errors[2].message


def test_discover_keeps_the_first_of_two_packages_with_the_same_name_and_version(tmp_path):
    write_head_ct(tmp_path / "1-first")
    write_head_ct(tmp_path / "2-second")
    write_head_ct(tmp_path / "3-newer", version="1.1.0")

    loaded, errors = discover(tmp_path)

    assert [(m.directory.name, m.version) for m in loaded] == [
        ("1-first", "1.0.0"),
        ("3-newer", "1.1.0"),
    ]
    assert len(errors) == 1
    assert errors[0].path == tmp_path / "2-second"
    assert "duplicate package: head-ct-demo 1.0.0 is already loaded from" in errors[0].message


def test_discover_reports_a_missing_folder(tmp_path):
    loaded, errors = discover(tmp_path / "nowhere")

    assert loaded == [] and len(errors) == 1 and "cannot scan the model folder" in errors[0].message


# --- applicability ------------------------------------------------------------------------


def _stub(card: dict[str, Any], module: torch.nn.Module | None = None) -> LoadedModel:
    return LoadedModel(
        card=ModelCard.from_dict(card),
        module=module or torch.nn.Identity(),
        weights_sha256="ab" * 32,
        directory=Path("/models") / card["name"],
    )


def test_models_for_filters_by_modality_and_body_part_synonyms():
    head = _stub(head_ct_card(weights=dict(_PINNED)))
    chest = _stub(chest_xr_card(weights=dict(_PINNED)))
    loaded = [head, chest]

    assert models_for(loaded, "CT", "HEAD") == [head]
    assert models_for(loaded, "ct", "Brain") == [head]
    assert models_for(loaded, "CT", "skull") == [head]
    assert models_for(loaded, "DX", "THORAX") == [chest]
    assert models_for(loaded, "cr", "lung") == [chest]
    assert models_for(loaded, "CT", "CHEST") == []
    assert models_for(loaded, "MR", "HEAD") == []
    assert models_for(loaded, "CT", None) == []
    assert models_for(loaded, None, "HEAD") == []
    assert models_for(loaded, "CT", "ABDOMEN") == []


# --- calibration --------------------------------------------------------------------------


class _FixedLogits(torch.nn.Module):
    def __init__(self, logits: list[float]) -> None:
        super().__init__()
        self.logits = torch.tensor([logits])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(x.shape[0], -1)


def test_temperature_calibration_pulls_probabilities_toward_one_half():
    card = head_ct_card(weights=dict(_PINNED))
    logits = [3.0, -2.0]
    plain = _stub(card, _FixedLogits(logits)).predict(volume())
    card["calibration"] = {
        "method": "temperature",
        "temperature": 2.0,
        "fitted_on": "validation split",
    }
    calibrated = _stub(card, _FixedLogits(logits)).predict(volume())

    for i, code in enumerate(("ich", "mass")):
        assert calibrated[code][0].item() == pytest.approx(1 / (1 + math.exp(-logits[i] / 2.0)))
        assert abs(calibrated[code][0] - 0.5) < abs(plain[code][0] - 0.5)
    assert calibrated["ich"][0] > 0.5 > calibrated["mass"][0]  # the ranking is kept


def test_platt_calibration_scales_and_shifts_logits():
    card = head_ct_card(weights=dict(_PINNED), calibration={"method": "platt", "a": 0.5, "b": -1.0})

    probabilities = _stub(card, _FixedLogits([2.0, 4.0])).predict(volume())

    assert probabilities["ich"][0].item() == pytest.approx(0.5)
    assert probabilities["mass"][0].item() == pytest.approx(1 / (1 + math.exp(-1.0)))


def test_a_packaged_temperature_is_applied(tmp_path):
    net = head_net().eval()
    calibration = {"method": "temperature", "temperature": 3.0}
    write_package(tmp_path / "pkg", card=head_ct_card(calibration=calibration), module=net)

    got = load_package(tmp_path / "pkg").predict(volume())

    with torch.inference_mode():
        expected = torch.sigmoid(net(volume()) / 3.0)
    assert torch.allclose(got["ich"], expected[:, 0]) and torch.allclose(
        got["mass"], expected[:, 1]
    )


# --- the networks -------------------------------------------------------------------------


def test_the_nets_are_small_and_output_one_logit_per_finding():
    head = HeadCTNet(n_findings=3, in_channels=3).eval()
    chest = ChestXRNet(n_findings=2, in_channels=1).eval()

    assert parameter_count(head) < 1_000_000
    assert parameter_count(chest) < 1_000_000
    with torch.inference_mode():
        assert head(torch.randn(2, 5, 3, 64, 64)).shape == (2, 3)
        assert head(torch.randn(1, 1, 3, 48, 48)).shape == (1, 3)
        assert chest(torch.randn(4, 1, 64, 64)).shape == (4, 2)


def test_an_ensemble_averages_its_members_logits_and_keeps_their_features_apart():
    nets = []
    for seed in (1, 2, 3):
        torch.manual_seed(seed)
        nets.append(ChestXRMapNet().eval())
    ensemble = ChestXRMapEnsemble.of(nets)
    assert ensemble.init_kwargs["members"] == 3 and not ensemble.training
    x = torch.randn(2, 1, 64, 64)
    with torch.inference_mode():
        members = [net(x) for net in nets]
        assert torch.allclose(ensemble(x), (members[0] + members[1] + members[2]) / 3, atol=1e-6)
        logits, features = ensemble.logits_and_features(x)
        assert torch.allclose(logits, ensemble(x))
        # 64 channels per member, side by side in member order.
        assert features.shape == (2, 3 * 64)
        assert torch.allclose(features[:, 64:128], nets[1].logits_and_features(x)[1])
    # The weights were copied in: changing a member afterwards leaves the ensemble as it was.
    with torch.no_grad():
        next(nets[0].parameters()).add_(1.0)
    assert not torch.equal(next(nets[0].parameters()), next(ensemble.members[0].parameters()))


def test_an_ensemble_package_loads_as_the_worker_loads_it(tmp_path):
    ensemble = ChestXRMapEnsemble(members=2).eval()
    write_package(tmp_path / "chest", card=chest_xr_card(), module=ensemble)
    loaded = load_package(tmp_path / "chest")
    assert isinstance(loaded.module, ChestXRMapEnsemble)
    assert loaded.card.weights.init_kwargs["members"] == 2
    x = torch.randn(1, *loaded.card.input.example_shape()[1:])
    with torch.inference_mode():
        assert torch.equal(loaded.module(x), ensemble(x))


def test_the_nets_initialise_deterministically_under_a_seed():
    torch.manual_seed(7)
    first = copy.deepcopy(ChestXRNet().state_dict())
    torch.manual_seed(7)
    second = ChestXRNet().state_dict()

    assert all(torch.equal(first[key], second[key]) for key in first)


def test_a_head_ct_volume_flags_a_finding_on_any_slice():
    # Max over slices: the volume's features are at least each slice's features.
    net = HeadCTNet().eval()
    x = torch.randn(1, 6, 3, SIZE, SIZE)
    with torch.inference_mode():
        per_slice = net.slice_features(x)
        pooled = per_slice.amax(dim=1)
        assert torch.equal(pooled, per_slice[:, 2].maximum(pooled))
        assert torch.allclose(net(x), net.head(pooled))
