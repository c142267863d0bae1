"""Is this study like the ones the model was validated on? A distance in the model's own features.

A network trained on one look of images says something on any image, and on an image unlike
its training data what it says means nothing: the chest model's version 1 gives p = 1 on every
film drawn by another hand. The checks of ``quality`` catch what the header and simple pixel
statistics can show (a lateral view, a blank film, a head CT without brain); this catches
the rest, the way the model itself sees the image.

The model's pooled features (``logits_and_features`` of ``triage.core.nets``) of studies like
its validation data are summarised by their mean and covariance; a new study's distance is
the Mahalanobis distance of its features from that mean. The covariance is shrunk towards its
average variance (a fixed ``SHRINKAGE``) so that directions the fitting set barely spans do not
make every new study look far. The limit is set on a second, separate in-distribution set, by
a rule stated in advance (``LIMIT_RULE``): never on the shifted families, which only report how
many of their studies it withholds.

A study past the limit gets a ``low_confidence`` run: its score is kept for the record and
flags nothing, so no priority changes on the word of a model looking at something it has not
been shown.

Imports no Django. The fitted statistics travel in the package as a JSON file pinned by its
sha256 in the card (``novelty.file``, ``novelty.sha256``), like the weights.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FILENAME = "novelty.json"
SHRINKAGE = 0.1
# The limit: this many times the largest distance of the calibration set. A multiple of the
# largest, not a percentile: a percentile withholds that share of in-distribution studies,
# true findings among them, by construction.
LIMIT_MARGIN = 1.5
LIMIT_RULE = (
    f"{LIMIT_MARGIN:g} x the largest Mahalanobis distance on a separate in-distribution "
    f"calibration set (covariance shrunk {SHRINKAGE:g} towards its mean variance)"
)


class NoveltyError(ValueError):
    """A novelty record that cannot be used."""


@dataclass(frozen=True)
class Novelty:
    """Mean and precision of in-distribution features, and the distance past which a study is
    unlike them."""

    mean: np.ndarray  # (F,)
    precision: np.ndarray  # (F, F), symmetric positive definite
    limit: float

    def distance(self, features: np.ndarray) -> np.ndarray:
        """Mahalanobis distance of each row of ``features`` (N, F) from the mean, (N,)."""
        rows = np.atleast_2d(np.asarray(features, dtype=np.float64))
        if rows.shape[1] != self.mean.shape[0]:
            raise NoveltyError(
                f"features have {rows.shape[1]} values, the record was fitted on "
                f"{self.mean.shape[0]}"
            )
        z = rows - self.mean
        squared = np.einsum("ij,jk,ik->i", z, self.precision, z)
        return np.sqrt(np.maximum(squared, 0.0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": [float(f"{v:.7g}") for v in self.mean],
            "precision": [[float(f"{v:.7g}") for v in row] for row in self.precision],
            "limit": float(f"{self.limit:.6g}"),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Novelty:
        try:
            mean = np.asarray(data["mean"], dtype=np.float64)
            precision = np.asarray(data["precision"], dtype=np.float64)
            limit = float(data["limit"])
        except (KeyError, TypeError, ValueError) as exc:
            raise NoveltyError(f"not a novelty record ({exc})") from exc
        if mean.ndim != 1 or precision.shape != (mean.shape[0], mean.shape[0]):
            raise NoveltyError(
                f"mean {mean.shape} and precision {precision.shape} do not fit each other"
            )
        if not (np.isfinite(mean).all() and np.isfinite(precision).all()):
            raise NoveltyError("the record holds values that are not finite numbers")
        if not math.isfinite(limit) or limit <= 0:
            raise NoveltyError(f"the limit must be a positive number, got {limit!r}")
        return cls(mean=mean, precision=precision, limit=limit)


def fit(fitting: np.ndarray, calibration: np.ndarray) -> tuple[Novelty, dict[str, Any]]:
    """Fit on one in-distribution set, set the limit on another; (record, what was measured).

    Both are (N, F) feature arrays of studies drawn like the model's validation data, from
    seeds apart from each other's.
    """
    fitting = np.asarray(fitting, dtype=np.float64)
    calibration = np.asarray(calibration, dtype=np.float64)
    if fitting.ndim != 2 or calibration.ndim != 2 or fitting.shape[1] != calibration.shape[1]:
        raise NoveltyError(
            f"need two (N, F) feature arrays with the same F, got {fitting.shape} and "
            f"{calibration.shape}"
        )
    n, f = fitting.shape
    if n < 2 or len(calibration) < 1:
        raise NoveltyError(f"need at least 2 fitting and 1 calibration studies, got {n} and "
                           f"{len(calibration)}")  # fmt: skip
    mean = fitting.mean(axis=0)
    centred = fitting - mean
    covariance = centred.T @ centred / n
    average_variance = float(np.trace(covariance)) / f
    if average_variance <= 0:
        raise NoveltyError("the fitting set's features do not vary: nothing to measure against")
    shrunk = (1 - SHRINKAGE) * covariance + SHRINKAGE * average_variance * np.eye(f)
    precision = np.linalg.inv(shrunk)
    precision = (precision + precision.T) / 2
    probe = Novelty(mean=mean, precision=precision, limit=1.0)
    calibration_distances = probe.distance(calibration)
    fitting_distances = probe.distance(fitting)
    limit = LIMIT_MARGIN * float(calibration_distances.max())
    record = Novelty(mean=mean, precision=precision, limit=limit)
    measured = {
        "rule": LIMIT_RULE,
        "limit": round(limit, 4),
        "features": f,
        "n_fitting": n,
        "n_calibration": len(calibration),
        "fitting_distance_median": round(float(np.median(fitting_distances)), 3),
        "calibration_distance_median": round(float(np.median(calibration_distances)), 3),
        "calibration_distance_max": round(float(calibration_distances.max()), 3),
    }
    return record, measured


def write(record: Novelty, directory: Path) -> Path:
    """Write ``novelty.json`` into a package folder; returns its path."""
    path = Path(directory) / FILENAME
    path.write_text(json.dumps(record.to_dict(), separators=(",", ":")) + "\n")
    return path


def read(data: bytes) -> Novelty:
    try:
        parsed = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NoveltyError(f"not JSON ({exc})") from exc
    if not isinstance(parsed, Mapping):
        raise NoveltyError("not a JSON object")
    return Novelty.from_dict(parsed)
