"""Input checks: whether a model may speak about these images at all. No Django, no torch.

A model is validated on a range of inputs; outside it, its score is a number without meaning.
Before a run is allowed to flag anything, the images are checked against what the model card
says it was validated on, and each check that fails gives a stable code and a sentence:

* ``not_applicable``: the images are not what the model is for (no head in a "head CT", a
  contrast-enhanced study for a non-contrast model, a lateral chest film for a PA model). The
  model does not run.
* ``low_confidence``: the right kind of study, but outside the validated range (too few slices,
  an implausible HU distribution, no brain-window content, a spacing never seen). The model runs
  and its scores are recorded, but the run flags nothing and changes no priority.

A check never hides a finding in the sense of lowering a priority: the study stays on the
worklist in the order its order and SLA give it, and a radiologist reads it like any other.
What the checks cost in missed flags is measured on the shifted validation families and
written into the model card (``train.evaluate_gate``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from triage.core.framing import MAX_HU_SHIFT, REFERENCE_HU, HeadFrame, label_parts
from triage.core.preprocess import contrast_problem, mentions

NOT_APPLICABLE = "not_applicable"
LOW_CONFIDENCE = "low_confidence"


@dataclass(frozen=True)
class InputCheck:
    """One failed check: a stable code, what it means for the run, and the sentence shown."""

    code: str
    severity: str  # NOT_APPLICABLE | LOW_CONFIDENCE
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "severity": self.severity, "message": self.message}


# What the head CT models are validated on unless their card says otherwise (input.validated).
HEAD_CT_RANGE: dict[str, Any] = {
    "head_slices": [12, 400],
    "slice_spacing_mm": [0.4, 10.0],
    "pixel_spacing_mm": [0.2, 1.6],
    "min_brain_window_fraction": 0.12,
    "min_air_fraction": 0.05,
}
RADIOGRAPH_RANGE: dict[str, Any] = {
    "min_matrix_px": 256,
    "views": ["PA", "AP", ""],
    "min_dark_fraction": 0.04,
}
# What counts as lucent in a chest radiograph: darker than this share of its densest parts.
DARK_SHARE_OF_DENSEST = 0.5


def _lucent(film: np.ndarray) -> np.ndarray:
    """Where a film (in [0, 1], bright = dense) is lucent: darker than half its densest parts
    (its 99th percentile), the rule of both the lung-field check and ``lung_fields``."""
    return film < DARK_SHARE_OF_DENSEST * np.percentile(film, 99)


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        value = value[0] if len(value) else ""
    return str(value).strip()


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _range(validated: Mapping[str, Any], key: str) -> tuple[float, float]:
    lo, hi = validated[key]
    return float(lo), float(hi)


def _geometry_checks(
    spacing_mm: Sequence[float | None], validated: Mapping[str, Any]
) -> list[InputCheck]:
    checks = []
    slice_mm, *pixel_mm = (*spacing_mm, None, None)[:3]
    lo, hi = _range(validated, "slice_spacing_mm")
    if slice_mm is not None and not lo <= abs(slice_mm) <= hi:
        checks.append(
            InputCheck(
                "spacing",
                LOW_CONFIDENCE,
                f"slices are {_fmt(abs(slice_mm))} mm apart; validated on {_fmt(lo)}-{_fmt(hi)} mm",
            )
        )
    lo, hi = _range(validated, "pixel_spacing_mm")
    pixels = [p for p in pixel_mm if p is not None]
    if pixels and not all(lo <= p <= hi for p in pixels):
        checks.append(
            InputCheck(
                "spacing",
                LOW_CONFIDENCE,
                f"pixels are {_fmt(min(pixels))} mm; validated on {_fmt(lo)}-{_fmt(hi)} mm",
            )
        )
    return checks


def _hu_checks(frame: HeadFrame, validated: Mapping[str, Any]) -> list[InputCheck]:
    m = frame.measures
    if m["air_fraction"] < validated["min_air_fraction"]:
        return [
            InputCheck(
                "hu_distribution",
                LOW_CONFIDENCE,
                f"only {m['air_fraction']:.0%} of the volume reads as air (below -500): the "
                "pixel values do not look like Hounsfield units",
            )
        ]
    median = m["parenchyma_median_hu"]
    if math.isnan(median) or m["brain_window_fraction"] < validated["min_brain_window_fraction"]:
        return [
            InputCheck(
                "no_brain_window_content",
                LOW_CONFIDENCE,
                f"only {m['brain_window_fraction']:.0%} of the head lies in the brain window "
                "(0-80 HU): no brain to read",
            )
        ]
    if abs(REFERENCE_HU - median) > MAX_HU_SHIFT:
        return [
            InputCheck(
                "hu_distribution",
                LOW_CONFIDENCE,
                f"brain parenchyma reads {median:.0f} HU; expected {REFERENCE_HU:.0f} "
                f"+- {MAX_HU_SHIFT:.0f} HU",
            )
        ]
    return []


# A CT whose header names no body part is read as a head when bone closes around brain on at
# least this share of its slices (``framing.cranial_share``). Heads drawn by three hands and
# a scanner's (skull base, holders, tilt) show it on half or more; a neck, chest, abdomen or
# pelvis on none or a few.
MIN_CRANIAL_SHARE = 0.3


# What a run says of an input whose header names no body part and whose model has no image
# check that could tell it (any but a framed head CT or a chest film).
UNSEEN_BODY_PART = (
    "the header names no body part (BodyPartExamined, descriptions, protocol) and this model "
    "cannot tell it from the images: set BodyPartExamined at the modality or router"
)


def unseen_head(cranial: float) -> str:
    """Why a CT whose header names no body part is not read as a head ("" when its images
    show one); ``cranial`` is its ``framing.cranial_share``."""
    if cranial >= MIN_CRANIAL_SHARE:
        return ""
    return (
        f"the header names no body part and the images show no head: bone closes around "
        f"brain on {cranial:.0%} of the slices (a head shows it on at least "
        f"{MIN_CRANIAL_SHARE:.0%}); set BodyPartExamined if this is a head CT"
    )


# A film whose header names no body part is read as a frontal chest when it shows lung
# fields: lucent parts (as ``radiograph_checks`` counts lucent) that the body encloses, unlike
# the air around the patient, which reaches the film's edge; one of them large, lucent on both
# sides of the film, and enough of it. Parts under 1 % of the film (gas in a bowel loop, an
# orbit) do not count.
MIN_LUNG_PART = 0.01
MIN_LARGEST_LUNG = 0.04
MIN_LUNG_SIDE = 0.015
MIN_LUNG_FIELDS = 0.06


def lung_fields(presented: np.ndarray) -> tuple[float, float, float]:
    """The film's enclosed lucency: (its share of the film left of the centre, right of it,
    the largest part's). ``presented`` is the film in [0, 1], bright = dense
    (``prepare_radiograph``)."""
    image = np.asarray(presented, np.float32).reshape(presented.shape[-2:])
    h, w = image.shape
    lucent = _lucent(image)
    labels = label_parts(lucent)
    sizes = np.bincount(labels.ravel())
    # Not enclosed: what reaches the film's edge (the air around the patient, the padding).
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    sizes[0] = 0
    sizes[edge] = 0
    sizes[sizes < MIN_LUNG_PART * h * w] = 0
    fields = sizes[labels] > 0
    area = float(h * w)
    left, right = fields[:, : w // 2].sum() / area, fields[:, w // 2 :].sum() / area
    return float(left), float(right), float(sizes.max(initial=0)) / area


def unseen_chest(fields: tuple[float, float, float]) -> str:
    """Why a film whose header names no body part is not read as a chest ("" when it shows
    lung fields); ``fields`` is its ``lung_fields``."""
    left, right, largest = fields
    if (
        left + right >= MIN_LUNG_FIELDS
        and min(left, right) >= MIN_LUNG_SIDE
        and largest >= MIN_LARGEST_LUNG
    ):
        return ""
    return (
        f"the header names no body part and the film shows no lung fields: lucent parts the "
        f"body encloses cover {left:.0%} of the film left of its centre and {right:.0%} right "
        f"of it, the largest {largest:.0%}; set BodyPartExamined if this is a chest film"
    )


def head_ct_checks(
    first: Dataset,
    frame: HeadFrame,
    spacing_mm: Sequence[float | None],
    validated: Mapping[str, Any] | None = None,
) -> list[InputCheck]:
    """Every failed check for a framed head CT series, in the order they are shown."""
    validated = {**HEAD_CT_RANGE, **(validated or {})}
    if not frame.found or frame.measures["head_fraction"] < 0.05:
        return [InputCheck("no_head", NOT_APPLICABLE, "no head found in the images")]
    checks = []
    if problem := contrast_problem(first):
        checks.append(
            InputCheck(
                "contrast",
                NOT_APPLICABLE,
                f"a contrast-enhanced study ({problem}); the model reads non-contrast head CT",
            )
        )
    lo, hi = _range(validated, "head_slices")
    head_slices = frame.measures["head_slices"]
    if not lo <= head_slices <= hi:
        checks.append(
            InputCheck(
                "slice_count",
                LOW_CONFIDENCE,
                f"{head_slices:.0f} slices cover the head; validated on {lo:.0f}-{hi:.0f}",
            )
        )
    checks += _geometry_checks(spacing_mm, validated)
    checks += _hu_checks(frame, validated)
    return checks


# A film without ViewPosition may still say it is a lateral: in its view code (DICOM's
# "lateral", "left lateral"...) or its series description, in the languages hospitals write.
_LATERAL = ("LAT", "LATERAL", "LL", "RL", "LLAT", "RLAT", "측면", "侧位", "側位")


def _lateral_by_description(ds: Dataset) -> str:
    """What says the film is a lateral ("" when nothing does)."""
    codes = ds.get("ViewCodeSequence") or []
    meaning = str(codes[0].get("CodeMeaning", "")) if len(codes) else ""
    if "lateral" in meaning.lower():
        return f"view code ({meaning})"
    description = _text(ds, "SeriesDescription")
    if mentions(description, _LATERAL):
        return f"series description ({description})"
    return ""


def radiograph_checks(
    ds: Dataset,
    presented: np.ndarray,
    validated: Mapping[str, Any] | None = None,
) -> list[InputCheck]:
    """Every failed check for a chest radiograph; ``presented`` is in [0, 1], bright = dense."""
    validated = {**RADIOGRAPH_RANGE, **(validated or {})}
    checks = []
    view = _text(ds, "ViewPosition").upper()
    if view not in validated["views"]:
        checks.append(
            InputCheck(
                "view",
                NOT_APPLICABLE,
                f"ViewPosition {view}: the model reads frontal (PA/AP) chest radiographs",
            )
        )
    elif not view and (said := _lateral_by_description(ds)):
        checks.append(
            InputCheck(
                "view",
                NOT_APPLICABLE,
                f"a lateral film by its {said}: the model reads frontal (PA/AP) chest radiographs",
            )
        )
    # The detector's matrix, not the model's input size.
    side = max(int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)) or max(presented.shape[-2:])
    if side < validated["min_matrix_px"]:
        checks.append(
            InputCheck(
                "matrix",
                LOW_CONFIDENCE,
                f"a {side}-pixel image; validated on {validated['min_matrix_px']} pixels or more",
            )
        )
    if float(np.ptp(presented)) < 0.05:
        checks.append(InputCheck("blank", NOT_APPLICABLE, "the image is blank"))
        return checks
    h, w = presented.shape[-2:]
    centre = presented[..., h // 6 : h - h // 6, w // 8 : w - w // 8]
    # Lucent next to the chest's own densest parts, not on a fixed scale: under a vendor's
    # header window a real film's lungs read 0.4 of it (GDCM's CR in shared/dicom, whose lungs
    # a fixed 0.35 missed), a generated film's 0.1-0.3.
    dark = float(_lucent(centre).mean())
    if dark < validated["min_dark_fraction"]:
        checks.append(
            InputCheck(
                "no_lung_fields",
                LOW_CONFIDENCE,
                f"no lung fields found: {dark:.0%} of the chest is lucent",
            )
        )
    return checks


def verdict(checks: Sequence[InputCheck]) -> tuple[str, str]:
    """(status, reason) for a run whose checks failed: not applicable wins over low confidence."""
    worst = [c for c in checks if c.severity == NOT_APPLICABLE] or list(checks)
    return worst[0].severity, "; ".join(c.message for c in worst)
