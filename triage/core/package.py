"""AI triage model packages: a model card plus weights pinned by sha256, and their loader.

A package is a directory holding ``model.json`` (the model card) and one weights file::

    models/
      head-ct-ich-demo-1.0.0/
        model.json
        weights.pt          # a state_dict, or model.pt2 for torch.export

``model.json`` (every field required unless marked optional; other top-level keys are kept in
``ModelCard.raw`` and otherwise ignored)::

    {
      "name": "head-ct-ich-demo",                 # slug: a-z 0-9 - _, at most 64 characters
      "version": "1.0.0",                         # semantic version MAJOR.MINOR.PATCH[-pre][+build]
      "intended_use": "Flags non-contrast head CT with suspected intracranial haemorrhage ...",
      "not_for_clinical_use": true,
      "label": "Synthetic demonstration model, not for clinical use",
                                                  # required when not_for_clinical_use is true,
                                                  # and must then say "not for clinical use"
      "applicability": {"modalities": ["CT"], "body_parts": ["HEAD"]},
      "input": {
        "kind": "ct-volume",                      # "ct-volume" | "radiograph"
        "size": 256,                              # side of the square slice/image, pixels
        "channels": 3,                            # for ct-volume: one channel per window
        "windows": [{"name": "brain", "center": 40, "width": 80}, ...],
                                                  # required for ct-volume, optional otherwise
        "slices": 32,                             # optional (ct-volume): slices after resampling
        "...": "any further keys are kept in InputSpec.extra for the preprocessing"
      },
      "findings": [
        {"code": "ich", "display": "Intracranial haemorrhage", "threshold": 0.5,
         "snomed": "1386000"}                     # threshold: the operating point, 0..1;
      ],                                          # snomed optional; order = model output order
      "calibration": {"method": "temperature", "temperature": 1.5},
                                                  # "none" | "temperature" (T > 0) |
                                                  # "platt" (a > 0, b): sigmoid(a * logit + b);
                                                  # other keys are free (e.g. "fitted_on")
      "training_data": "free text or an object",
      "validation": {"auc": 0.91, "auc_ci95": [0.87, 0.94], "n": 400, "dataset": "..."},
      "weights": {
        "format": "state_dict",                   # "state_dict" | "torch.export"
        "file": "weights.pt",                     # a file name inside the package directory
        "sha256": "<64 hex digits>",              # required to load: weights are pinned
        "entry_point": "triage.core.nets:HeadCTNet",   # state_dict only: module:Class
        "init_kwargs": {"n_findings": 1, "in_channels": 3}   # optional
      }
    }

Loading refuses unpinned weights, a weights file whose sha256 differs from the pin, a missing
weights file and a state_dict entry point outside an allow-list of module prefixes (default
``triage.core.``: the networks need no Django, and nothing else of the server is a model), so
that a dropped-in JSON file cannot make the server import arbitrary code. The
weights are read once, hashed, and loaded from those same bytes, so the file cannot change
between the check and the load. The pin guards against corruption and tampering after the
package was made; it does not make an untrusted author's package trustworthy.

A state_dict is loaded with ``torch.load(..., weights_only=True)`` and strict key matching; a
``.pt2`` with ``torch.export.load(...).module()``. ``write_package`` exports in eval mode with a
dynamic batch dimension (and a dynamic slice dimension for a ct-volume without ``slices``).

Nothing here imports Django.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import io
import json
import logging
import math
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from triage.core.novelty import Novelty, NoveltyError
from triage.core.novelty import read as read_novelty

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

CARD_FILENAME = "model.json"
CALIBRATION_FILENAME = "calibration.json"
FORMATS = ("state_dict", "torch.export")
INPUT_KINDS = ("ct-volume", "radiograph")
CALIBRATION_METHODS = ("none", "temperature", "platt")
DEFAULT_ALLOWED_PREFIXES: tuple[str, ...] = ("triage.core.",)
DEFAULT_WEIGHTS_FILES = {"state_dict": "weights.pt", "torch.export": "model.pt2"}
NOT_FOR_CLINICAL_USE = "not for clinical use"

# Limits that match the TriageRun columns the name and version are recorded in.
MAX_NAME_LENGTH = 64
MAX_VERSION_LENGTH = 32
MAX_CARD_BYTES = 1 << 20

# DICOM BodyPartExamined values (and what hospitals put there) that mean the same region.
# A card's body part and a study's body part match when they fall in the same group; a value in
# no group matches only itself. Values are compared upper-cased, spaces and hyphens as "_".
BODY_PART_SYNONYMS: dict[str, frozenset[str]] = {
    "HEAD": frozenset({"HEAD", "BRAIN", "SKULL", "CRANIUM", "CEREBRUM"}),
    "CHEST": frozenset({"CHEST", "THORAX", "LUNG", "LUNGS"}),
    "ABDOMEN": frozenset({"ABDOMEN", "ABD"}),
}

_SLUG = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*", re.ASCII)
_FINDING_CODE = re.compile(r"[A-Za-z0-9]+(?:[-_.][A-Za-z0-9]+)*", re.ASCII)
_SEMVER = re.compile(
    r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(?:-((?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)"
    r"(?:\.(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?",
    re.ASCII,
)
_SHA256 = re.compile(r"[0-9a-fA-F]{64}", re.ASCII)
_SNOMED = re.compile(r"[0-9]{6,18}", re.ASCII)
_ENTRY_POINT = re.compile(
    r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*", re.ASCII
)


class PackageError(Exception):
    """A model package that cannot be used: its directory and a message for people.

    ``path`` is the package directory (the scanned folder when the folder itself cannot be
    read); ``message`` names the file and, for a card, the field at fault, e.g.
    ``model.json: findings[0].threshold: must be between 0 and 1, got 1.5``.
    """

    def __init__(self, path: str | os.PathLike[str], message: str) -> None:
        super().__init__(Path(path), message)
        self.path = Path(path)
        self.message = message

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


# --- the model card ------------------------------------------------------------------------


@dataclass(frozen=True)
class Applicability:
    """Which studies a model applies to: DICOM Modality and BodyPartExamined, upper-cased."""

    modalities: tuple[str, ...]
    body_parts: tuple[str, ...]

    def applies_to(self, modality: str | None, body_part: str | None) -> bool:
        """Case-insensitive; body parts also match their synonyms (``BODY_PART_SYNONYMS``).

        A missing modality or body part matches nothing: the model is not applied on a guess.
        """
        if not modality or not body_part:
            return False
        if normalize_modality(modality) not in self.modalities:
            return False
        wanted = canonical_body_part(body_part)
        return any(canonical_body_part(part) == wanted for part in self.body_parts)


@dataclass(frozen=True)
class Window:
    """A CT window (Hounsfield units) that becomes one input channel."""

    center: float
    width: float
    name: str = ""


@dataclass(frozen=True)
class InputSpec:
    """What the network takes; the preprocessing makes exactly this."""

    kind: str
    size: int
    channels: int
    windows: tuple[Window, ...] = ()
    slices: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def example_shape(self, batch: int = 1) -> tuple[int, ...]:
        """The shape of a batch this input takes (one slice when the slice count is free)."""
        if self.kind == "ct-volume":
            return (batch, self.slices or 1, self.channels, self.size, self.size)
        return (batch, self.channels, self.size, self.size)


@dataclass(frozen=True)
class Finding:
    """One output of the model: a finding code, its display text and operating threshold."""

    code: str
    display: str
    threshold: float
    snomed: str | None = None


@dataclass(frozen=True)
class WeightsSpec:
    """Where the weights are, in what format, and the sha256 they are pinned to."""

    format: str
    file: str
    sha256: str | None
    entry_point: str | None = None
    init_kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelCard:
    """The parsed, validated ``model.json``. Treat the mappings in it as read-only."""

    name: str
    version: str
    intended_use: str
    not_for_clinical_use: bool
    label: str
    applicability: Applicability
    input: InputSpec
    findings: tuple[Finding, ...]
    calibration: Mapping[str, Any]
    training_data: str | Mapping[str, Any]
    validation: Mapping[str, Any]
    weights: WeightsSpec
    # What live monitoring expects of this version in use (expected_positive_rate, alert_factor,
    # min_studies): the positive rate a reading center should see, not the validation split's
    # 50/50, which says nothing about how often a finding turns up in practice.
    monitoring: Mapping[str, Any] = field(default_factory=dict)
    # The novelty record (``triage.core.novelty``): its file, sha256 and how it was fitted;
    # empty for a package without one.
    novelty: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def thresholds(self) -> dict[str, float]:
        """The operating threshold per finding code (recorded with every run)."""
        return {finding.code: finding.threshold for finding in self.findings}

    @property
    def finding_codes(self) -> tuple[str, ...]:
        return tuple(finding.code for finding in self.findings)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> ModelCard:
        """Read and validate a model.json; a PackageError names the field at fault."""
        path = Path(path)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise PackageError(path.parent, f"no {path.name} in the package") from None
        except OSError as exc:
            raise PackageError(path.parent, f"cannot read {path.name}: {exc}") from exc
        if size > MAX_CARD_BYTES:
            raise PackageError(
                path.parent,
                f"{path.name} is {size} bytes; a model card is at most {MAX_CARD_BYTES}",
            )
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PackageError(path.parent, f"cannot read {path.name}: {exc}") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PackageError(path.parent, f"{path.name} is not valid JSON: {exc}") from exc
        return cls.from_dict(data, path=path)

    @classmethod
    def from_dict(cls, data: Any, *, path: str | os.PathLike[str] = CARD_FILENAME) -> ModelCard:
        """Validate a model card given as parsed JSON; ``path`` is only for error messages."""
        return _CardParser(Path(path)).card(data)


class _CardParser:
    """Validates a card: PackageError(directory, "model.json: <field>: <what is wrong>")."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, message: str) -> PackageError:
        return PackageError(self.path.parent, f"{self.path.name}: {where}: {message}")

    def required(self, data: Mapping[str, Any], key: str, where: str) -> Any:
        if key not in data or data[key] is None:
            raise self.fail(where, "missing required field")
        return data[key]

    def mapping(self, value: Any, where: str, *, nonempty: bool = False) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(where, f"must be an object, got {_json_type(value)}")
        if nonempty and not value:
            raise self.fail(where, "must not be empty")
        return dict(value)

    def text(self, value: Any, where: str, *, nonempty: bool = True) -> str:
        if not isinstance(value, str):
            raise self.fail(where, f"must be a string, got {_json_type(value)}")
        if nonempty and not value.strip():
            raise self.fail(where, "must not be empty")
        return value

    def integer(self, value: Any, where: str, *, minimum: int = 1) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(where, f"must be an integer, got {_json_type(value)}")
        if value < minimum:
            raise self.fail(where, f"must be at least {minimum}, got {value}")
        return value

    def number(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(where, f"must be a number, got {_json_type(value)}")
        if not math.isfinite(value):
            raise self.fail(where, f"must be a finite number, got {value}")
        return float(value)

    def strings(self, value: Any, where: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            raise self.fail(where, "must be a non-empty list of strings")
        return tuple(self.text(item, f"{where}[{i}]") for i, item in enumerate(value))

    def card(self, data: Any) -> ModelCard:
        data = self.mapping(data, "(top level)")
        name = self.text(self.required(data, "name", "name"), "name")
        if len(name) > MAX_NAME_LENGTH or not _SLUG.fullmatch(name):
            raise self.fail(
                "name",
                f"must be a slug (lowercase letters, digits, '-' or '_', at most "
                f"{MAX_NAME_LENGTH} characters), got {name!r}",
            )
        version = self.text(self.required(data, "version", "version"), "version")
        if len(version) > MAX_VERSION_LENGTH or not _SEMVER.fullmatch(version):
            raise self.fail(
                "version",
                f"must be a semantic version MAJOR.MINOR.PATCH (e.g. 1.0.0), got {version!r}",
            )
        intended_use = self.text(
            self.required(data, "intended_use", "intended_use"), "intended_use"
        )
        not_for_clinical_use = self.required(data, "not_for_clinical_use", "not_for_clinical_use")
        if not isinstance(not_for_clinical_use, bool):
            raise self.fail(
                "not_for_clinical_use",
                f"must be true or false, got {_json_type(not_for_clinical_use)}",
            )
        if not_for_clinical_use:
            label = self.text(self.required(data, "label", "label"), "label")
            if NOT_FOR_CLINICAL_USE not in label.lower():
                raise self.fail(
                    "label", f"must say {NOT_FOR_CLINICAL_USE!r} when not_for_clinical_use is true"
                )
        else:
            label = self.text(data.get("label") or "", "label", nonempty=False)
        findings = self.findings(self.required(data, "findings", "findings"))
        training_data = self.required(data, "training_data", "training_data")
        if isinstance(training_data, str):
            training_data = self.text(training_data, "training_data")
        else:
            training_data = self.mapping(training_data, "training_data", nonempty=True)
        return ModelCard(
            name=name,
            version=version,
            intended_use=intended_use,
            not_for_clinical_use=not_for_clinical_use,
            label=label,
            applicability=self.applicability(self.required(data, "applicability", "applicability")),
            input=self.input(self.required(data, "input", "input")),
            findings=findings,
            calibration=self.calibration(self.required(data, "calibration", "calibration")),
            training_data=copy.deepcopy(training_data),
            validation=copy.deepcopy(
                self.mapping(
                    self.required(data, "validation", "validation"), "validation", nonempty=True
                )
            ),
            weights=self.weights(self.required(data, "weights", "weights")),
            monitoring=self.monitoring(data.get("monitoring", {})),
            novelty=self.novelty(data.get("novelty", {})),
            raw=copy.deepcopy(data),
        )

    def applicability(self, value: Any) -> Applicability:
        data = self.mapping(value, "applicability")
        modalities = self.strings(
            self.required(data, "modalities", "applicability.modalities"),
            "applicability.modalities",
        )
        body_parts = self.strings(
            self.required(data, "body_parts", "applicability.body_parts"),
            "applicability.body_parts",
        )
        return Applicability(
            modalities=tuple(normalize_modality(m) for m in modalities),
            body_parts=tuple(normalize_body_part(b) for b in body_parts),
        )

    def input(self, value: Any) -> InputSpec:
        data = self.mapping(value, "input")
        kind = self.text(self.required(data, "kind", "input.kind"), "input.kind")
        if kind not in INPUT_KINDS:
            raise self.fail("input.kind", f"must be one of {', '.join(INPUT_KINDS)}, got {kind!r}")
        size = self.integer(self.required(data, "size", "input.size"), "input.size")
        channels = self.integer(self.required(data, "channels", "input.channels"), "input.channels")
        windows: tuple[Window, ...] = ()
        if kind == "ct-volume" or data.get("windows") is not None:
            raw_windows = self.required(data, "windows", "input.windows")
            if not isinstance(raw_windows, list) or not raw_windows:
                raise self.fail(
                    "input.windows", "must be a non-empty list of {center, width[, name]}"
                )
            windows = tuple(
                self.window(w, f"input.windows[{i}]") for i, w in enumerate(raw_windows)
            )
        if kind == "ct-volume" and len(windows) != channels:
            raise self.fail(
                "input.channels",
                f"is {channels} but input.windows lists {len(windows)}: one channel per window",
            )
        slices = None
        if data.get("slices") is not None:
            slices = self.integer(data["slices"], "input.slices")
        known = {"kind", "size", "channels", "windows", "slices"}
        extra = {k: copy.deepcopy(v) for k, v in data.items() if k not in known}
        return InputSpec(
            kind=kind, size=size, channels=channels, windows=windows, slices=slices, extra=extra
        )

    def window(self, value: Any, where: str) -> Window:
        data = self.mapping(value, where)
        center = self.number(self.required(data, "center", f"{where}.center"), f"{where}.center")
        width = self.number(self.required(data, "width", f"{where}.width"), f"{where}.width")
        if width <= 0:
            raise self.fail(f"{where}.width", f"must be positive, got {width:g}")
        name = self.text(data.get("name") or "", f"{where}.name", nonempty=False)
        return Window(center=center, width=width, name=name)

    def findings(self, value: Any) -> tuple[Finding, ...]:
        if not isinstance(value, list) or not value:
            raise self.fail(
                "findings", "must be a non-empty list of {code, display, threshold[, snomed]}"
            )
        findings: list[Finding] = []
        seen: set[str] = set()
        for i, item in enumerate(value):
            where = f"findings[{i}]"
            data = self.mapping(item, where)
            code = self.text(self.required(data, "code", f"{where}.code"), f"{where}.code")
            if len(code) > 64 or not _FINDING_CODE.fullmatch(code):
                raise self.fail(
                    f"{where}.code", f"must be letters, digits, '-', '_' or '.', got {code!r}"
                )
            if code in seen:
                raise self.fail(f"{where}.code", f"{code!r} appears twice")
            seen.add(code)
            display = self.text(
                self.required(data, "display", f"{where}.display"), f"{where}.display"
            )
            threshold = self.number(
                self.required(data, "threshold", f"{where}.threshold"), f"{where}.threshold"
            )
            if not 0.0 <= threshold <= 1.0:
                raise self.fail(f"{where}.threshold", f"must be between 0 and 1, got {threshold:g}")
            snomed = data.get("snomed")
            if snomed is not None:
                if isinstance(snomed, int) and not isinstance(snomed, bool):
                    snomed = str(snomed)
                if not isinstance(snomed, str) or not _SNOMED.fullmatch(snomed):
                    raise self.fail(
                        f"{where}.snomed",
                        f"must be a SNOMED CT concept id (digits), got {snomed!r}",
                    )
            findings.append(Finding(code=code, display=display, threshold=threshold, snomed=snomed))
        return tuple(findings)

    def calibration(self, value: Any) -> dict[str, Any]:
        data = self.mapping(value, "calibration")
        method = self.text(
            self.required(data, "method", "calibration.method"), "calibration.method"
        )
        if method not in CALIBRATION_METHODS:
            raise self.fail(
                "calibration.method",
                f"must be one of {', '.join(CALIBRATION_METHODS)}, got {method!r}",
            )
        if method == "temperature":
            temperature = self.number(
                self.required(data, "temperature", "calibration.temperature"),
                "calibration.temperature",
            )
            if temperature <= 0:
                raise self.fail("calibration.temperature", f"must be positive, got {temperature:g}")
        elif method == "platt":
            a = self.number(self.required(data, "a", "calibration.a"), "calibration.a")
            self.number(self.required(data, "b", "calibration.b"), "calibration.b")
            if a <= 0:
                raise self.fail("calibration.a", f"must be positive (keeps the ranking), got {a:g}")
        return copy.deepcopy(data)

    def monitoring(self, value: Any) -> dict[str, Any]:
        data = self.mapping(value, "monitoring")
        rate = data.get("expected_positive_rate")
        if rate is not None and not 0 < self.number(rate, "monitoring.expected_positive_rate") < 1:
            raise self.fail("monitoring.expected_positive_rate", f"must be in (0, 1), got {rate}")
        factor = data.get("alert_factor")
        if factor is not None and self.number(factor, "monitoring.alert_factor") <= 1:
            raise self.fail("monitoring.alert_factor", f"must be above 1, got {factor}")
        if data.get("min_studies") is not None:
            self.integer(data["min_studies"], "monitoring.min_studies")
        return copy.deepcopy(data)

    def novelty(self, value: Any) -> dict[str, Any]:
        data = self.mapping(value, "novelty")
        if not data:
            return {}
        name = self.text(self.required(data, "file", "novelty.file"), "novelty.file")
        if Path(name).name != name:
            raise self.fail("novelty.file", f"must be a file name in the package, got {name!r}")
        sha256 = self.sha256(self.required(data, "sha256", "novelty.sha256"), "novelty.sha256")
        return {**copy.deepcopy(data), "sha256": sha256}

    def sha256(self, value: Any, where: str) -> str:
        """A pin: 64 hexadecimal digits, compared in lower case."""
        if not isinstance(value, str) or not _SHA256.fullmatch(value):
            raise self.fail(where, f"must be 64 hexadecimal digits, got {value!r}")
        return value.lower()

    def weights(self, value: Any) -> WeightsSpec:
        data = self.mapping(value, "weights")
        fmt = self.text(self.required(data, "format", "weights.format"), "weights.format")
        if fmt not in FORMATS:
            raise self.fail("weights.format", f"must be one of {', '.join(FORMATS)}, got {fmt!r}")
        file = self.text(self.required(data, "file", "weights.file"), "weights.file")
        if "/" in file or "\\" in file or file.startswith(".") or file == CARD_FILENAME:
            raise self.fail(
                "weights.file", f"must be a file name inside the package directory, got {file!r}"
            )
        sha256 = data.get("sha256") or None
        if sha256 is not None:
            sha256 = self.sha256(sha256, "weights.sha256")
        entry_point = None
        if fmt == "state_dict" or data.get("entry_point") is not None:
            entry_point = self.text(
                self.required(data, "entry_point", "weights.entry_point"), "weights.entry_point"
            )
            if not _ENTRY_POINT.fullmatch(entry_point):
                raise self.fail(
                    "weights.entry_point",
                    f"must look like 'package.module:Class', got {entry_point!r}",
                )
        init_kwargs = self.mapping(data.get("init_kwargs") or {}, "weights.init_kwargs")
        return WeightsSpec(
            format=fmt,
            file=file,
            sha256=sha256,
            entry_point=entry_point,
            init_kwargs=copy.deepcopy(init_kwargs),
        )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def normalize_modality(value: str) -> str:
    return value.strip().upper()


def normalize_body_part(value: str) -> str:
    return re.sub(r"[\s\-]+", "_", value.strip().upper())


def canonical_body_part(value: str) -> str:
    """The synonym group a body part belongs to (``HEAD`` for BRAIN), else the value itself."""
    part = normalize_body_part(value)
    for canonical, synonyms in BODY_PART_SYNONYMS.items():
        if part in synonyms:
            return canonical
    return part


# --- calibration ---------------------------------------------------------------------------


def calibrate_logits(logits: torch.Tensor, calibration: Mapping[str, Any]) -> torch.Tensor:
    """Apply a card's (validated) calibration to logits; the caller applies the sigmoid."""
    method = calibration.get("method", "none")
    if method == "temperature":
        return logits / float(calibration["temperature"])
    if method == "platt":
        return logits * float(calibration["a"]) + float(calibration["b"])
    return logits


# --- loading -------------------------------------------------------------------------------


def sha256_file(path: str | os.PathLike[str], *, chunk_size: int = 1 << 20) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A package whose weights matched their pin, ready to run."""

    card: ModelCard
    module: torch.nn.Module
    weights_sha256: str
    directory: Path
    novelty: Novelty | None = None

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def version(self) -> str:
        return self.card.version

    def predict(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-finding probabilities, shape (N,) each, keyed by finding code in card order.

        The module's logits (N, n_findings) are calibrated as the card says, then put through
        a sigmoid; all under ``torch.inference_mode()``.
        """
        return self.predict_with_novelty(batch)[0]

    def predict_with_novelty(
        self, batch: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], np.ndarray | None]:
        """``predict``'s probabilities, and each study's novelty distance (None without a
        novelty record), from one forward pass."""
        import torch  # here, not at the top: the web and ingest processes never load it

        if not isinstance(batch, torch.Tensor):
            raise TypeError(f"batch must be a torch.Tensor, got {type(batch).__name__}")
        expected = self.card.input.example_shape()
        if batch.ndim != len(expected) or batch.shape[-3] != self.card.input.channels:
            layout = (
                "(N, slices, channels, H, W)"
                if self.card.input.kind == "ct-volume"
                else "(N, channels, H, W)"
            )
            raise ValueError(
                f"{self.name} {self.version} takes a {layout} batch with "
                f"{self.card.input.channels} channels, got shape {tuple(batch.shape)}"
            )
        n_findings = len(self.card.findings)
        distances = None
        with torch.inference_mode():
            if self.novelty is None:
                logits = self.module(batch.to(torch.float32))
            else:
                logits, features = self.module.logits_and_features(batch.to(torch.float32))
                distances = self.novelty.distance(features.double().numpy())
            if not isinstance(logits, torch.Tensor) or logits.shape != (batch.shape[0], n_findings):
                shape = (
                    tuple(logits.shape)
                    if isinstance(logits, torch.Tensor)
                    else type(logits).__name__
                )
                raise PackageError(
                    self.directory,
                    f"the model returned {shape} for a batch of {batch.shape[0]}; the card lists "
                    f"{n_findings} finding(s), so logits of shape "
                    f"({batch.shape[0]}, {n_findings}) were expected",
                )
            probabilities = torch.sigmoid(calibrate_logits(logits.float(), self.card.calibration))
        by_code = {code: probabilities[:, i] for i, code in enumerate(self.card.finding_codes)}
        return by_code, distances

    def summary(self) -> dict[str, Any]:
        """What an admin page shows about a loaded package."""
        return {
            "name": self.name,
            "version": self.version,
            "directory": str(self.directory),
            "weights_sha256": self.weights_sha256,
            "format": self.card.weights.format,
            "label": self.card.label,
            "not_for_clinical_use": self.card.not_for_clinical_use,
            "modalities": list(self.card.applicability.modalities),
            "body_parts": list(self.card.applicability.body_parts),
            "thresholds": self.card.thresholds,
        }


@contextmanager
def _failing_as(path: Path, what: str) -> Iterator[None]:
    """Turn whatever a step of loading raises into a PackageError saying which step failed."""
    try:
        yield
    except PackageError:
        raise
    except Exception as exc:
        raise PackageError(path, f"{what}: {type(exc).__name__}: {exc}") from exc


def _entry_point_allowed(module_name: str, allowed_prefixes: Iterable[str]) -> bool:
    for prefix in allowed_prefixes:
        if prefix.endswith("."):
            if module_name.startswith(prefix):
                return True
        elif module_name == prefix or module_name.startswith(prefix + "."):
            return True
    return False


def _import_entry_point(
    entry_point: str, allowed_prefixes: Sequence[str], directory: Path
) -> type[torch.nn.Module]:
    import torch  # here, not at the top: the web and ingest processes never load it

    module_name, _, class_name = entry_point.partition(":")
    if not _entry_point_allowed(module_name, allowed_prefixes):
        raise PackageError(
            directory,
            f"entry point {entry_point!r} is outside the allowed module prefixes "
            f"{tuple(allowed_prefixes)!r}; refusing to import code named in model.json",
        )
    with _failing_as(directory, f"cannot import entry point {entry_point!r}"):
        module = importlib.import_module(module_name)
    cls = getattr(module, class_name, None)
    if cls is None:
        raise PackageError(
            directory, f"entry point {entry_point!r}: {module_name} has no {class_name}"
        )
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise PackageError(
            directory, f"entry point {entry_point!r} is not a torch.nn.Module subclass"
        )
    return cls


def load_package(
    directory: str | os.PathLike[str],
    *,
    allowed_prefixes: Sequence[str] = DEFAULT_ALLOWED_PREFIXES,
    smoke_test: bool = True,
    novelty: bool = True,
) -> LoadedModel:
    """Validate and load one package; raises PackageError saying what is wrong.

    With ``smoke_test`` the model is run once on zeros shaped as the card's input says, so a
    package whose outputs do not match its findings is refused at load rather than mid-triage.
    Without ``novelty`` the card's novelty record is left unread (to fit a new one).
    """
    import torch  # here, not at the top: the web and ingest processes never load it

    directory = Path(directory)
    card = ModelCard.from_file(directory / CARD_FILENAME)
    spec = card.weights
    if not spec.sha256:
        raise PackageError(directory, "unpinned weights: add weights.sha256 to model.json")
    weights_path = directory / spec.file
    if not weights_path.is_file():
        raise PackageError(directory, f"weights file {spec.file} is missing")
    # Hash and load the same bytes, so the file cannot be swapped between check and load.
    with _failing_as(directory, f"cannot read weights file {spec.file}"):
        data = weights_path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != spec.sha256:
        raise PackageError(
            directory,
            f"weights file {spec.file} has sha256 {actual}, model.json pins {spec.sha256}: "
            "the file was changed or corrupted; refusing to load",
        )

    if spec.format == "state_dict":
        assert spec.entry_point is not None  # the card parser requires it for state_dict
        cls = _import_entry_point(spec.entry_point, allowed_prefixes, directory)
        with _failing_as(directory, f"cannot read {spec.file} as a state_dict (weights_only)"):
            state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        if not isinstance(state, Mapping):
            raise PackageError(
                directory, f"{spec.file} holds a {type(state).__name__}, not a state_dict"
            )
        with _failing_as(
            directory,
            f"cannot build {spec.entry_point} with init_kwargs {dict(spec.init_kwargs)!r}",
        ):
            module = cls(**spec.init_kwargs)
        with _failing_as(directory, f"weights in {spec.file} do not fit {spec.entry_point}"):
            module.load_state_dict(state, strict=True)
        module.eval()
        module.requires_grad_(False)
    else:
        # Exported programs carry their eval-mode graph (write_package exports in eval mode);
        # their modules refuse .eval(), and under inference_mode no gradients are kept anyway.
        with _failing_as(directory, f"cannot load {spec.file} with torch.export.load"):
            module = torch.export.load(io.BytesIO(data)).module()

    _check_calibration_record(directory, card)
    record = _novelty_record(directory, card, module) if novelty else None
    loaded = LoadedModel(
        card=card, module=module, weights_sha256=actual, directory=directory, novelty=record
    )
    if smoke_test:
        with _failing_as(
            directory, f"the model failed on an input of shape {card.input.example_shape()}"
        ):
            loaded.predict(torch.zeros(card.input.example_shape()))
    return loaded


def discover(
    folder: str | os.PathLike[str],
    *,
    allowed_prefixes: Sequence[str] = DEFAULT_ALLOWED_PREFIXES,
) -> tuple[list[LoadedModel], list[PackageError]]:
    """Load every package in ``folder``: (loaded, refused), never raising for a bad package.

    Every subdirectory holding a model.json is tried, in name order; hidden ones (".incoming")
    are skipped, so a package can be copied in under a hidden name and renamed into place. Of two
    packages with the same name and version the first is kept and the second reported.
    """
    folder = Path(folder)
    loaded: list[LoadedModel] = []
    errors: list[PackageError] = []
    try:
        children = sorted(folder.iterdir())
    except OSError as exc:
        return loaded, [
            PackageError(folder, f"cannot scan the model folder: {exc.strerror or exc}")
        ]
    seen: dict[tuple[str, str], Path] = {}
    for child in children:
        if (
            child.name.startswith(".")
            or not child.is_dir()
            or not (child / CARD_FILENAME).is_file()
        ):
            continue
        try:
            model = load_package(child, allowed_prefixes=allowed_prefixes)
        except PackageError as exc:
            logger.warning("model package refused: %s", exc)
            errors.append(exc)
            continue
        except Exception as exc:
            logger.exception("model package %s failed to load", child)
            errors.append(
                PackageError(child, f"unexpected error while loading: {type(exc).__name__}: {exc}")
            )
            continue
        key = (model.name, model.version)
        if key in seen:
            error = PackageError(
                child,
                f"duplicate package: {model.name} {model.version} is already loaded from "
                f"{seen[key]}; ignoring this copy",
            )
            logger.warning("model package refused: %s", error)
            errors.append(error)
            continue
        seen[key] = child
        loaded.append(model)
    return loaded, errors


def models_for(
    loaded: Iterable[LoadedModel], modality: str | None, body_part: str | None
) -> list[LoadedModel]:
    """The loaded models whose card applies to this modality and body part (see Applicability)."""
    return [model for model in loaded if model.card.applicability.applies_to(modality, body_part)]


def _check_calibration_record(directory: Path, card: ModelCard) -> None:
    """A card whose calibration names a record file: the file is pinned like the weights, and
    it must say what the card says (the temperature and every operating threshold)."""
    name = card.calibration.get("file")
    if not name:
        return
    data = _pinned_file(directory, "calibration record", str(name), card.calibration.get("sha256"))
    with _failing_as(directory, f"calibration record {name} is not valid JSON"):
        record = json.loads(data)
    if record.get("temperature") != card.calibration.get("temperature"):
        raise PackageError(directory, f"{name} and model.json disagree on the temperature")
    if record.get("thresholds") != card.thresholds:
        raise PackageError(directory, f"{name} and model.json disagree on the thresholds")


def _pinned_file(directory: Path, what: str, name: str, pinned: str | None) -> bytes:
    """The bytes of a file the card names and pins by sha256, hashed as read."""
    path = directory / name
    if Path(name).name != name or not path.is_file():
        raise PackageError(directory, f"{what} {name} is missing")
    with _failing_as(directory, f"cannot read {what} {name}"):
        data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != pinned:
        raise PackageError(
            directory,
            f"{what} {name} has sha256 {actual}, model.json pins {pinned}: refusing to load",
        )
    return data


def _novelty_record(directory: Path, card: ModelCard, module: torch.nn.Module) -> Novelty | None:
    """The card's novelty record, pinned like the weights; None for a card without one."""
    name = card.novelty.get("file")
    if not name:
        return None
    data = _pinned_file(directory, "novelty record", str(name), card.novelty.get("sha256"))
    if not callable(getattr(module, "logits_and_features", None)):
        raise PackageError(
            directory,
            f"the card names a novelty record but {type(module).__name__} has no "
            "logits_and_features(): the record cannot be used with this network",
        )
    try:
        return read_novelty(data)
    except NoveltyError as exc:
        raise PackageError(directory, f"novelty record {name}: {exc}") from exc


# --- writing -------------------------------------------------------------------------------


def _write_atomically(path: Path, data: bytes) -> None:
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _export(module: torch.nn.Module, example_input: torch.Tensor, input_spec: InputSpec) -> bytes:
    """torch.export the module in eval mode, batch (and free slice count) dynamic."""
    import torch  # here, not at the top: the web and ingest processes never load it

    dynamic_dims = [0]
    if input_spec.kind == "ct-volume" and input_spec.slices is None:
        dynamic_dims.append(1)
    example = example_input.detach()
    for dim in dynamic_dims:
        # export specialises a size-1 dimension to the constant 1; trace with two instead.
        if example.shape[dim] == 1:
            example = torch.cat([example, example], dim=dim)
    dynamic_shapes = (dict.fromkeys(dynamic_dims, torch.export.Dim.DYNAMIC),)
    was_training = module.training
    module.eval()
    try:
        program = torch.export.export(module, (example,), dynamic_shapes=dynamic_shapes)
    finally:
        module.train(was_training)
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    return buffer.getvalue()


def write_package(
    directory: str | os.PathLike[str],
    *,
    card: Mapping[str, Any],
    module: torch.nn.Module,
    format: str = "state_dict",
    example_input: torch.Tensor | None = None,
    calibration_record: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Save ``module`` as a package in ``directory`` and return the model.json path.

    ``card`` is the model card without (or with a stale) ``weights.sha256``; ``weights.format``
    is set from ``format``, ``weights.file`` defaults to weights.pt / model.pt2, and for a
    state_dict ``weights.entry_point`` and ``weights.init_kwargs`` default to the module's class
    and its ``init_kwargs`` attribute. The card is validated before anything is written; the
    weights are written first and model.json last (each atomically), so a half-written package
    has no card and is skipped by discover(). ``torch.export`` needs ``example_input``.

    ``calibration_record`` (the curve, the threshold and why) is written to calibration.json and
    pinned by sha256 in ``calibration``, like the weights; it must repeat the card's temperature
    and thresholds, so the loader can check that the two were made together.
    """
    import torch  # here, not at the top: the web and ingest processes never load it

    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    directory = Path(directory)
    card_path = directory / CARD_FILENAME
    if card_path.exists() and not overwrite:
        raise FileExistsError(f"{card_path} exists; a published package version is not rewritten")
    data = copy.deepcopy(dict(card))
    weights = dict(data.get("weights") or {})
    if weights.get("format", format) != format:
        raise ValueError(f"card says weights.format {weights['format']!r} but format={format!r}")
    weights["format"] = format
    weights.setdefault("file", DEFAULT_WEIGHTS_FILES[format])
    weights.pop("sha256", None)
    if format == "state_dict":
        cls = type(module)
        if "<locals>" in cls.__qualname__:
            raise ValueError(
                f"{cls.__qualname__} is defined inside a function and cannot be an entry point"
            )
        weights.setdefault("entry_point", f"{cls.__module__}:{cls.__qualname__}")
        if "init_kwargs" not in weights and isinstance(
            getattr(module, "init_kwargs", None), Mapping
        ):
            weights["init_kwargs"] = dict(module.init_kwargs)
    elif example_input is None:
        raise ValueError("format='torch.export' needs an example_input to trace the module with")
    data["weights"] = weights
    parsed = ModelCard.from_dict(data, path=card_path)  # refuse a bad card before writing

    if format == "state_dict":
        state = {key: value.detach().cpu().clone() for key, value in module.state_dict().items()}
        buffer = io.BytesIO()
        torch.save(state, buffer)
        payload = buffer.getvalue()
    else:
        assert example_input is not None
        payload = _export(module, example_input, parsed.input)

    directory.mkdir(parents=True, exist_ok=True)
    weights_path = directory / weights["file"]
    _write_atomically(weights_path, payload)
    weights["sha256"] = sha256_file(weights_path)
    if calibration_record is not None:
        record = {
            **calibration_record,
            "temperature": data["calibration"].get("temperature"),
            "thresholds": parsed.thresholds,
        }
        record_path = directory / CALIBRATION_FILENAME
        _write_atomically(
            record_path, (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        )
        data["calibration"] = {
            **data["calibration"],
            "file": CALIBRATION_FILENAME,
            "sha256": sha256_file(record_path),
        }
    _write_atomically(
        card_path, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    )
    return card_path
