"""Reproducible training and honest validation of the demonstration triage models.

Two recipes, both trained only on synthetic phantoms from the hospital simulator
(``simulator.synthetic``), generated on the fly from seeded generators:

* ``head-ct-ich``: intracranial haemorrhage on a non-contrast head CT (``HeadCTNet``), input
  (16 slices, 3 windows brain/subdural/bone, 64 x 64) made from 256 x 256 phantoms;
* ``cxr-pneumothorax``: pneumothorax on a PA chest radiograph (``ChestXRNet``), input
  (1, 128, 128) made from 512 x 512 phantoms.

The data are preprocessed exactly as ``triage.core.preprocess`` prepares the DICOM the simulator
sends (the matrix sizes the simulator sends, then the same resize and windows); ``prepare_ct_array``
and ``prepare_radiograph_array`` are that path for arrays, and the tests check it against
``prepare_ct_volume`` / ``prepare_radiograph`` on real simulator DICOM.

Validation (numpy only) uses data the model never saw, in three independent splits:

* calibration: a temperature is fitted there (1-D search minimising the NLL) and the operating
  threshold chosen there (the highest one whose sensitivity is >= 0.95);
* held-out test: phantoms like the training ones; AUC with a stratified bootstrap 95% CI,
  expected calibration error before and after the temperature, a reliability table, sensitivity
  and specificity at the chosen threshold;
* shifted test: ``Appearance.shifted()`` (noisier, subtler, smaller lesions) plus a different
  "scanner" (sharper-kernel noise and a calibration offset for CT; a noisier detector and a
  different exposure curve for radiographs). Nothing is tuned on it; whatever it measures goes
  into the card.

Nothing here imports Django.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from simulator.synthetic import Appearance, chest_image, head_ct_volume
from triage.core.nets import ChestXRNet, HeadCTNet, parameter_count
from triage.core.package import CARD_FILENAME, write_package
from triage.core.preprocess import WINDOWS, resize, window

__all__ = [
    "RECIPES",
    "ProgressEvent",
    "Recipe",
    "bootstrap_auc_ci",
    "choose_threshold",
    "expected_calibration_error",
    "fit_temperature",
    "is_separated",
    "known_recipes",
    "make_example",
    "prepare_ct_array",
    "prepare_radiograph_array",
    "present_radiograph",
    "probability_threshold",
    "reliability_table",
    "roc_auc",
    "sensitivity_specificity",
    "sigmoid",
    "train_model",
    "wilson_interval",
]

VERSION = "1.0.0"
LABEL = "Synthetic demonstration model, not for clinical use"
TARGET_SENSITIVITY = 0.95
# What CT stores; prepare_ct_volume clips decoded HU to this range before resizing.
HU_RANGE = (-1024.0, 3071.0)
# Seed-sequence ids of the splits: every example's generator is default_rng([seed, split, i]),
# so the splits never share a phantom and one example can be regenerated on its own.
SPLITS = {"train": 1, "calibration": 2, "held_out": 3, "shifted": 4}


# --------------------------------------------------------------------------------------------
# Recipes


@dataclass(frozen=True)
class Recipe:
    """Everything that defines one model: data, network, input, optimiser and card texts."""

    name: str
    kind: str  # "ct-volume" | "radiograph"
    finding_code: str
    finding_display: str
    snomed: str
    net: type[nn.Module]
    in_channels: int
    size: int  # model input side
    source_size: int  # matrix the simulator sends (and the phantoms are generated at)
    slices: int | None  # ct-volume only
    windows: tuple[str, ...]  # ct-volume only, names in triage.core.preprocess.WINDOWS
    variants: tuple[str, ...]  # bleed types / pneumothorax sides, alternated over positives
    n_train: int
    n_val: int  # calibration + held-out test, split evenly
    n_shifted: int
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    flip: bool  # left-right flips as augmentation (not for chests: the heart is on one side)
    modalities: tuple[str, ...]
    body_parts: tuple[str, ...]
    intended_use: str
    simulator_function: str
    shift_description: str


RECIPES: dict[str, Recipe] = {
    "head-ct-ich": Recipe(
        name="head-ct-ich",
        kind="ct-volume",
        finding_code="ich",
        finding_display="intracranial hemorrhage",
        snomed="1386000",
        net=HeadCTNet,
        in_channels=3,
        size=64,
        source_size=256,
        slices=16,
        windows=("brain", "subdural", "bone"),
        variants=("intraparenchymal", "subdural"),
        n_train=320,
        n_val=200,
        n_shifted=100,
        epochs=10,
        batch_size=8,
        lr=3e-3,
        weight_decay=1e-4,
        flip=True,
        modalities=("CT",),
        body_parts=("HEAD",),
        intended_use=(
            "Demonstration of computer-aided triage: flags a non-contrast axial head CT with "
            "suspected intracranial hemorrhage so that it can be read sooner. Runs in parallel "
            "to reading; never removes a study from the worklist, lowers its priority or rules "
            "out a finding. Trained and validated only on synthetic phantoms."
        ),
        simulator_function="simulator.synthetic.head_ct_volume",
        shift_description=(
            "Appearance.shifted() (noise x2, lesion contrast x0.45, lesion size x0.6) and a "
            "different scanner: extra uncorrelated noise (sharper kernel, sd 6 HU) and a global "
            "HU calibration offset (sd 3 HU)"
        ),
    ),
    "cxr-pneumothorax": Recipe(
        name="cxr-pneumothorax",
        kind="radiograph",
        finding_code="pneumothorax",
        finding_display="pneumothorax",
        snomed="36118008",
        net=ChestXRNet,
        in_channels=1,
        size=128,
        source_size=512,
        slices=None,
        windows=(),
        variants=("right", "left"),
        n_train=640,
        n_val=320,
        n_shifted=160,
        epochs=8,
        batch_size=16,
        lr=2e-3,
        weight_decay=1e-4,
        flip=False,
        modalities=("CR", "DX"),
        body_parts=("CHEST",),
        intended_use=(
            "Demonstration of computer-aided triage: flags a PA chest radiograph with suspected "
            "pneumothorax so that it can be read sooner. Runs in parallel to reading; never "
            "removes a study from the worklist, lowers its priority or rules out a finding. "
            "Trained and validated only on synthetic phantoms."
        ),
        simulator_function="simulator.synthetic.chest_image",
        shift_description=(
            "Appearance.shifted() (noise x2, lesion contrast x0.45, lesion size x0.6) and a "
            "different detector: extra quantum noise (sd 0.01) and a different exposure curve "
            "(gamma 0.8-1.25)"
        ),
    ),
}


def known_recipes() -> tuple[str, ...]:
    return tuple(RECIPES)


# --------------------------------------------------------------------------------------------
# Preprocessing: the same path triage.core.preprocess takes for DICOM


def prepare_ct_array(
    hu: np.ndarray, *, size: int, windows: Sequence[str] = ("brain", "subdural", "bone")
) -> np.ndarray:
    """A HU volume (slices, H, W) as the model input (slices, len(windows), size, size) float32.

    As ``prepare_ct_volume``: clip to the HU range CT stores, resize (area), then window.
    """
    return window_volume(resize_hu(hu, size), windows)


def resize_hu(hu: np.ndarray, size: int) -> np.ndarray:
    """The first half of ``prepare_ct_array``: clipped and resized HU (slices, size, size)."""
    clipped = np.clip(np.asarray(hu, np.float32), *HU_RANGE)
    return resize(clipped, size)


def window_volume(small_hu: np.ndarray, windows: Sequence[str]) -> np.ndarray:
    """Resized HU (..., slices, size, size) -> (..., slices, len(windows), size, size)."""
    channels = [window(small_hu, *WINDOWS[name]) for name in windows]
    return np.stack(channels, axis=-3).astype(np.float32, copy=False)


def present_radiograph(image: np.ndarray) -> np.ndarray:
    """A simulator chest image in [0, 1] as ``preprocess.presentation`` shows its DICOM.

    The simulator's CR/DX writer stores ``150 + 3800 * image`` and a VOI window spanning the
    1st-99th percentile of the stored values; ``presentation`` applies that window (inverting
    MONOCHROME1 back). Stored values are a linear map of the image, so this is the same window
    taken on the image itself (up to the writer's integer rounding).
    """
    image = np.asarray(image, np.float32)
    lo, hi = (float(v) for v in np.percentile(image, [1.0, 99.0]))
    width = max(hi - lo, 1.0 / 3800.0)
    return window(image, (lo + hi) / 2.0, width)


def prepare_radiograph_array(image: np.ndarray, *, size: int) -> np.ndarray:
    """A simulator chest image as the model input (1, size, size): present, then resize."""
    return resize(present_radiograph(image), size, pad_value=0.0)[None]


# --------------------------------------------------------------------------------------------
# Data


def _example_rng(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, SPLITS[split], index])


def _shift_ct(rng: np.random.Generator, hu: np.ndarray) -> np.ndarray:
    """Another scanner: sharper reconstruction kernel (white noise) and an HU offset."""
    hu = hu + rng.normal(0.0, 6.0, hu.shape).astype(np.float32)
    hu += np.float32(rng.normal(0.0, 3.0))
    return hu


def _shift_radiograph(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Another detector: more quantum noise and a different exposure (gamma) curve."""
    noisy = image + rng.normal(0.0, 0.01, image.shape).astype(np.float32)
    gamma = float(np.exp(rng.uniform(np.log(0.8), np.log(1.25))))
    return np.clip(noisy, 0.0, 1.0) ** np.float32(gamma)


def make_example(
    recipe: Recipe,
    rng: np.random.Generator,
    *,
    positive: bool,
    variant: str | None = None,
    shifted: bool = False,
) -> np.ndarray:
    """One example as stored for training.

    CT: clipped, resized HU (slices, size, size) (the windows are applied per batch, which is
    the same arithmetic as ``prepare_ct_array``); radiograph: the model input (1, size, size).
    """
    appearance = Appearance.shifted() if shifted else None
    if recipe.kind == "ct-volume":
        hu = head_ct_volume(
            rng,
            slices=recipe.slices or 16,
            size=recipe.source_size,
            bleed=positive,
            bleed_type=variant if positive else None,
            appearance=appearance,
        ).image
        if shifted:
            hu = _shift_ct(rng, hu)
        return resize_hu(hu, recipe.size)
    image = chest_image(
        rng,
        size=recipe.source_size,
        pneumothorax=positive,
        side=variant if positive else None,
        appearance=appearance,
    ).image
    if shifted:
        image = _shift_radiograph(rng, image)
    return prepare_radiograph_array(image, size=recipe.size)


@dataclass
class _Split:
    x: np.ndarray
    y: np.ndarray  # float32 0/1
    variants: list[str]


@dataclass(frozen=True)
class ProgressEvent:
    """What ``train_model`` reports as it goes, for a command line or a log.

    ``stage``: "data" (``current``/``total`` examples of ``split``), "batch" (``current``/
    ``total`` batches of ``epoch``), "epoch" (an epoch finished: ``loss``), "evaluate",
    "write" and "done". ``elapsed`` is seconds since training started.
    """

    stage: str
    elapsed: float
    message: str = ""
    split: str = ""
    current: int = 0
    total: int = 0
    epoch: int = 0
    epochs: int = 0
    loss: float | None = None


ProgressCallback = Callable[[ProgressEvent], None]


def _generate(
    recipe: Recipe,
    split: str,
    n: int,
    seed: int,
    *,
    paired: bool,
    shifted: bool,
    report: Callable[..., None],
) -> _Split:
    """``n`` examples, half positive, lesion variants alternating over the positives.

    ``paired``: examples 2k and 2k+1 come from the same generator seed, with and without the
    lesion; the simulator draws the lesion from its own stream, so the pair is the same phantom
    and the same noise, and the only difference the network can learn from is the finding.
    Evaluation splits are unpaired: every phantom is different.
    """
    xs: list[np.ndarray] = []
    ys: list[float] = []
    variants: list[str] = []
    for i in range(n):
        positive = i % 2 == 0
        variant = recipe.variants[(i // 2) % len(recipe.variants)] if positive else "none"
        rng = _example_rng(seed, split, i // 2 if paired else i)
        xs.append(
            make_example(
                recipe,
                rng,
                positive=positive,
                variant=variant if positive else None,
                shifted=shifted,
            )
        )
        ys.append(1.0 if positive else 0.0)
        variants.append(variant)
        report("data", split=split, current=i + 1, total=n)
    return _Split(np.stack(xs).astype(np.float32), np.array(ys, np.float32), variants)


# --------------------------------------------------------------------------------------------
# Metrics (numpy only)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function in float64, without overflow for large logits."""
    return np.exp(-np.logaddexp(0.0, -np.asarray(x, np.float64)))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing the average of the ranks they span."""
    values = np.asarray(values, np.float64)
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    n = len(values)
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if n else np.array([], int)
    ends = np.r_[starts[1:], n]
    ranks = np.empty(n, np.float64)
    ranks[order] = np.repeat((starts + 1 + ends) / 2.0, ends - starts)
    return ranks


def _labels(labels: np.ndarray) -> np.ndarray:
    y = np.asarray(labels).astype(np.float64).ravel()
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("labels must be 0 or 1")
    return y.astype(bool)


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve by the Mann-Whitney U statistic (ties count one half).

    The probability that a random positive scores above a random negative.
    """
    y = _labels(labels)
    s = np.asarray(scores, np.float64).ravel()
    if len(s) != len(y):
        raise ValueError(f"{len(y)} labels but {len(s)} scores")
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUC needs at least one positive and one negative")
    ranks = _average_ranks(s)
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def bootstrap_auc_ci(
    labels: np.ndarray,
    scores: np.ndarray,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap CI of the AUC; positives and negatives resampled separately.

    Stratified so that every resample has both classes and the class balance of the data.
    """
    y = _labels(labels)
    s = np.asarray(scores, np.float64).ravel()
    pos, neg = s[y], s[~y]
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("AUC needs at least one positive and one negative")
    rng = np.random.default_rng(seed)
    labels_resampled = np.r_[np.ones(len(pos), bool), np.zeros(len(neg), bool)]
    aucs = np.empty(n_resamples, np.float64)
    for b in range(n_resamples):
        sample = np.r_[rng.choice(pos, len(pos)), rng.choice(neg, len(neg))]
        aucs[b] = roc_auc(labels_resampled, sample)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(aucs, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def _nll(logits: np.ndarray, y: np.ndarray, temperature: float) -> float:
    z = logits / temperature
    # -log sigmoid(z) = log(1 + e^-z) for positives, -log(1 - sigmoid(z)) = log(1 + e^z) else.
    return float(np.mean(np.where(y, np.logaddexp(0.0, -z), np.logaddexp(0.0, z))))


def is_separated(labels: np.ndarray, scores: np.ndarray) -> bool:
    """Whether every positive scores above every negative (the plain NLL then has no minimum)."""
    y = _labels(labels)
    s = np.asarray(scores, np.float64).ravel()
    return bool(y.any() and (~y).any() and s[y].min() > s[~y].max())


def fit_temperature(
    logits: np.ndarray,
    labels: np.ndarray,
    *,
    prior_sd: float | None = 1.0,
    bounds: tuple[float, float] = (0.01, 100.0),
) -> float:
    """The temperature T for ``sigmoid(logits / T)``: a 1-D search minimising the mean NLL.

    With ``prior_sd`` the objective is the mean NLL plus ``(ln T)^2 / (2 prior_sd^2 n)``, the
    MAP estimate under a normal prior on ln T (sd ``prior_sd``, centred on T = 1). On data that
    are not separated it differs from the maximum-likelihood T by little (the prior weighs as
    one example); on a perfectly separated calibration split, where the NLL keeps falling as
    T -> 0 and the MLE does not exist, it stops T before every probability becomes 0 or 1.
    ``prior_sd=None`` is the plain MLE within ``bounds``.

    A grid over ln T, then golden-section refinement around the best grid point.
    """
    z = np.asarray(logits, np.float64).ravel()
    y = _labels(labels)
    penalty = 0.0 if prior_sd is None else 1.0 / (2.0 * prior_sd**2 * len(z))

    def objective(log_t: float) -> float:
        return _nll(z, y, math.exp(log_t)) + penalty * log_t * log_t

    lo, hi = math.log(bounds[0]), math.log(bounds[1])
    grid = np.linspace(lo, hi, 401)
    losses = [objective(t) for t in grid]
    best = int(np.argmin(losses))
    a, b = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = objective(c), objective(d)
    for _ in range(60):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = objective(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = objective(d)
    return float(math.exp((a + b) / 2.0))


def _bin_index(probs: np.ndarray, n_bins: int) -> np.ndarray:
    return np.minimum((probs * n_bins).astype(int), n_bins - 1)


def expected_calibration_error(labels: np.ndarray, probs: np.ndarray, n_bins: int = 10) -> float:
    """ECE over ``n_bins`` equal-width probability bins: sum of n_b/N |observed - predicted|."""
    y = _labels(labels).astype(np.float64)
    p = np.asarray(probs, np.float64).ravel()
    bins = _bin_index(p, n_bins)
    ece = 0.0
    for k in range(n_bins):
        in_bin = bins == k
        if in_bin.any():
            ece += in_bin.mean() * abs(y[in_bin].mean() - p[in_bin].mean())
    return float(ece)


def reliability_table(
    labels: np.ndarray, probs: np.ndarray, n_bins: int = 10
) -> list[dict[str, Any]]:
    """Per probability bin: its range, count, mean predicted probability, observed rate."""
    y = _labels(labels).astype(np.float64)
    p = np.asarray(probs, np.float64).ravel()
    bins = _bin_index(p, n_bins)
    rows = []
    for k in range(n_bins):
        in_bin = bins == k
        n = int(in_bin.sum())
        rows.append(
            {
                "bin": [round(k / n_bins, 3), round((k + 1) / n_bins, 3)],
                "n": n,
                "mean_predicted": round(float(p[in_bin].mean()), 4) if n else None,
                "observed": round(float(y[in_bin].mean()), 4) if n else None,
            }
        )
    return rows


def choose_threshold(
    labels: np.ndarray, scores: np.ndarray, *, min_sensitivity: float = TARGET_SENSITIVITY
) -> float:
    """An operating threshold (in the units of ``scores``) with sensitivity >= the target.

    Flagged means score >= threshold. The highest threshold whose sensitivity reaches
    ``min_sensitivity`` is the k-th highest positive score, k = ceil(target * positives); it
    gives the best specificity the target allows. Used as is it would sit on a case, and it
    gives away sensitivity for nothing whenever positives lie below it with no negative in
    between (on well separated data, 5% of positives). So the threshold returned keeps that
    specificity and flags every positive it can: it lies midway between the highest-scoring
    negative below the k-th positive and the next score above that negative. When no negative
    scores below the k-th positive, it is the lowest positive score.

    Pass logits (midpoints are then taken where scores are spread out) and map the result
    through the calibration (``probability_threshold``).
    """
    y = _labels(labels)
    s = np.asarray(scores, np.float64).ravel()
    positives = np.sort(s[y])[::-1]
    if len(positives) == 0:
        raise ValueError("choosing a threshold for sensitivity needs positives")
    k = max(1, math.ceil(min_sensitivity * len(positives) - 1e-9))
    edge = positives[k - 1]
    negatives_below = s[~y & (s < edge)]
    if len(negatives_below) == 0:
        return float(positives[-1])
    highest_negative = negatives_below.max()
    next_above = s[s > highest_negative].min()
    return float((highest_negative + next_above) / 2.0)


def probability_threshold(logit_threshold: float, temperature: float) -> float:
    """A logit threshold as the card's probability threshold (after the temperature).

    Rounded down to 6 decimals less 1e-6, so the float32 probabilities inference computes for
    the cases at or above the logit threshold still reach it.
    """
    p = float(sigmoid(logit_threshold / temperature))
    return float(max(0.0, math.floor((p - 1e-6) * 1e6) / 1e6))


def sensitivity_specificity(
    labels: np.ndarray, probs: np.ndarray, threshold: float
) -> dict[str, Any]:
    """Flagged = p >= threshold (as ``triage.core.outcome`` flags); counts and rates."""
    y = _labels(labels)
    flagged = np.asarray(probs, np.float64).ravel() >= threshold
    tp, fn = int((flagged & y).sum()), int((~flagged & y).sum())
    tn, fp = int((~flagged & ~y).sum()), int((flagged & ~y).sum())
    return {
        "sensitivity": tp / (tp + fn) if tp + fn else None,
        "specificity": tn / (tn + fp) if tn + fp else None,
        "sensitivity_ci95": wilson_interval(tp, tp + fn),
        "specificity_ci95": wilson_interval(tn, tn + fp),
        "tp": tp,
        "fn": fn,
        "tn": tn,
        "fp": fp,
    }


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> list[float] | None:
    """Wilson score interval for a proportion (None when n is 0)."""
    if n == 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)]


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def evaluate(
    labels: np.ndarray,
    logits: np.ndarray,
    *,
    temperature: float,
    threshold: float,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """AUC with its bootstrap CI, ECE before/after the temperature, sens/spec at the threshold."""
    y = _labels(labels)
    z = np.asarray(logits, np.float64).ravel()
    raw, calibrated = sigmoid(z), sigmoid(z / temperature)
    auc = roc_auc(y, z)
    lo, hi = bootstrap_auc_ci(y, z, n_resamples=n_resamples, seed=seed)
    at = sensitivity_specificity(y, calibrated, threshold)
    return {
        "n": len(y),
        "n_positive": int(y.sum()),
        "n_negative": int((~y).sum()),
        "auc": _r(auc),
        "auc_ci95": [_r(lo), _r(hi)],
        "ece_before_calibration": _r(expected_calibration_error(y, raw)),
        "ece_after_calibration": _r(expected_calibration_error(y, calibrated)),
        "threshold": threshold,
        "sensitivity": _r(at["sensitivity"]),
        "sensitivity_ci95": at["sensitivity_ci95"],
        "specificity": _r(at["specificity"]),
        "specificity_ci95": at["specificity_ci95"],
        "confusion": {k: at[k] for k in ("tp", "fn", "tn", "fp")},
        "reliability_after_calibration": reliability_table(y, calibrated),
    }


# --------------------------------------------------------------------------------------------
# Training


@contextmanager
def _deterministic(seed: int, threads: int) -> Iterator[None]:
    """Seeded, deterministic torch on ``threads`` threads; the previous settings restored."""
    previous_threads = torch.get_num_threads()
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    previous_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    previous_state = torch.get_rng_state()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.set_rng_state(previous_state)
        torch.use_deterministic_algorithms(previous_deterministic, warn_only=previous_warn_only)
        torch.set_num_threads(previous_threads)


def _to_input(recipe: Recipe, x: np.ndarray) -> torch.Tensor:
    if recipe.kind == "ct-volume":
        x = window_volume(x, recipe.windows)
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def _logits(model: nn.Module, recipe: Recipe, x: np.ndarray, batch_size: int) -> np.ndarray:
    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            out.append(model(_to_input(recipe, x[start : start + batch_size]))[:, 0].double())
    return torch.cat(out).numpy()


def _fit(
    model: nn.Module,
    recipe: Recipe,
    data: _Split,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    rng: np.random.Generator,
    report: Callable[..., None],
) -> list[float]:
    n = len(data.y)
    # A last batch of one cannot be batch-normalised reliably: drop remainders under two.
    batches = [(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]
    batches = [(s, e) for s, e in batches if e - s >= 2]
    if not batches:
        raise ValueError(f"{n} training example(s): need at least 2")
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=recipe.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=lr, total_steps=epochs * len(batches), pct_start=0.2
    )
    loss_fn = nn.BCEWithLogitsLoss()
    history: list[float] = []
    for epoch in range(1, epochs + 1):
        model.train()
        order = rng.permutation(n)
        total, count = 0.0, 0
        for b, (start, end) in enumerate(batches, 1):
            idx = order[start:end]
            x = data.x[idx]
            if recipe.flip:
                flips = rng.random(len(idx)) < 0.5
                x = np.where(flips.reshape((-1,) + (1,) * (x.ndim - 1)), x[..., ::-1], x)
            inputs = _to_input(recipe, x)
            targets = torch.from_numpy(data.y[idx]).unsqueeze(1)
            loss = loss_fn(model(inputs), targets)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
            report(
                "batch",
                epoch=epoch,
                epochs=epochs,
                current=b,
                total=len(batches),
                loss=total / count,
            )
        history.append(total / count)
        report("epoch", epoch=epoch, epochs=epochs, loss=total / count)
    return history


def state_sha256(module: nn.Module) -> str:
    """A hash of a module's state_dict values (names, dtypes, shapes and bytes)."""
    digest = hashlib.sha256()
    for key, value in module.state_dict().items():
        tensor = value.detach().cpu().contiguous()
        digest.update(f"{key}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def _recipe_with(name: str, overrides: dict[str, Any]) -> Recipe:
    if name not in RECIPES:
        raise KeyError(f"unknown recipe {name!r}: known are {', '.join(RECIPES)}")
    base = RECIPES[name]
    if base.kind != "ct-volume":
        overrides = {**overrides, "slices": None}
    recipe = replace(base, **{k: v for k, v in overrides.items() if v is not None})
    for key in ("n_train", "n_val", "n_shifted", "epochs", "batch_size", "size", "source_size"):
        value = getattr(recipe, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{key} must be a positive integer, got {value!r}")
    if recipe.n_val < 4 or recipe.n_shifted < 2:
        raise ValueError("n_val must be at least 4 and n_shifted at least 2 (both classes)")
    return recipe


def train_model(
    name: str,
    *,
    seed: int = 0,
    out_dir: str | Path,
    n_train: int | None = None,
    n_val: int | None = None,
    n_shifted: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    size: int | None = None,
    source_size: int | None = None,
    slices: int | None = None,
    bootstrap: int = 1000,
    threads: int = 2,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Train recipe ``name``, validate it and write its package to ``out_dir/<name>/``.

    ``n_val`` examples are split evenly into a calibration split (temperature and threshold) and
    a held-out test split; ``n_shifted`` examples form the shifted test set. Unset arguments take
    the recipe's defaults. The same seed and arguments give the same weights (same sha256) on the
    same machine and torch build. Returns a summary (see the end of this function).
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    recipe = _recipe_with(
        name,
        {
            "n_train": n_train,
            "n_val": n_val,
            "n_shifted": n_shifted,
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "size": size,
            "source_size": source_size,
            "slices": slices,
        },
    )
    directory = Path(out_dir) / recipe.name
    if (directory / CARD_FILENAME).exists() and not overwrite:
        # Checked first: minutes of training should not end in write_package refusing.
        raise FileExistsError(f"{directory / CARD_FILENAME} exists; pass overwrite to replace it")

    started = time.perf_counter()

    def report(stage: str, **info: Any) -> None:
        if progress is not None:
            progress(ProgressEvent(stage=stage, elapsed=time.perf_counter() - started, **info))

    n_cal = recipe.n_val // 2
    n_test = recipe.n_val - n_cal
    with _deterministic(seed, threads):
        train = _generate(
            recipe, "train", recipe.n_train, seed, paired=True, shifted=False, report=report
        )
        calibration = _generate(
            recipe, "calibration", n_cal, seed, paired=False, shifted=False, report=report
        )
        held_out = _generate(
            recipe, "held_out", n_test, seed, paired=False, shifted=False, report=report
        )
        shifted = _generate(
            recipe, "shifted", recipe.n_shifted, seed, paired=False, shifted=True, report=report
        )
        data_seconds = time.perf_counter() - started

        torch.manual_seed(seed)
        model = recipe.net(n_findings=1, in_channels=recipe.in_channels)
        rng = np.random.default_rng([seed, 0])
        train_started = time.perf_counter()
        history = _fit(
            model,
            recipe,
            train,
            epochs=recipe.epochs,
            batch_size=recipe.batch_size,
            lr=recipe.lr,
            rng=rng,
            report=report,
        )
        train_seconds = time.perf_counter() - train_started
        model.eval()

        report("evaluate", message="scoring the calibration, held-out and shifted sets")
        eval_batch = max(recipe.batch_size, 16)
        cal_logits = _logits(model, recipe, calibration.x, eval_batch)
        test_logits = _logits(model, recipe, held_out.x, eval_batch)
        shifted_logits = _logits(model, recipe, shifted.x, eval_batch)

    # Rounded as the card stores it, so the threshold below is the one inference will see.
    temperature = round(fit_temperature(cal_logits, calibration.y), 6)
    separated = is_separated(calibration.y, cal_logits)
    cal_probs = sigmoid(cal_logits / temperature)
    logit_threshold = choose_threshold(
        calibration.y, cal_logits, min_sensitivity=TARGET_SENSITIVITY
    )
    threshold = probability_threshold(logit_threshold, temperature)
    at_cal = sensitivity_specificity(calibration.y, cal_probs, threshold)
    results = {
        split: evaluate(
            data.y,
            logits,
            temperature=temperature,
            threshold=threshold,
            n_resamples=bootstrap,
            seed=seed,
        )
        for split, data, logits in (
            ("held_out", held_out, test_logits),
            ("shifted", shifted, shifted_logits),
        )
    }
    duration = time.perf_counter() - started

    card = _card(
        recipe,
        seed=seed,
        train=train,
        n_cal=n_cal,
        temperature=temperature,
        separated=separated,
        threshold=threshold,
        logit_threshold=logit_threshold,
        at_cal=at_cal,
        cal_ece=(
            expected_calibration_error(calibration.y, sigmoid(cal_logits)),
            expected_calibration_error(calibration.y, cal_probs),
        ),
        results=results,
        bootstrap=bootstrap,
        training={
            "seed": seed,
            "epochs": recipe.epochs,
            "batch_size": recipe.batch_size,
            "optimizer": "Adam",
            "learning_rate": recipe.lr,
            "weight_decay": recipe.weight_decay,
            "lr_schedule": "one-cycle (20% warm-up, cosine decay), stepped per batch",
            "loss": "binary cross-entropy on logits",
            "augmentation": "random left-right flips" if recipe.flip else "none",
            "loss_per_epoch": [round(v, 5) for v in history],
            "parameters": parameter_count(model),
            "deterministic": True,
            "torch_threads": threads,
            "data_generation_s": round(data_seconds, 1),
            "training_s": round(train_seconds, 1),
            "duration_s": round(duration, 1),
            "torch_version": torch.__version__,
            "numpy_version": np.__version__,
            "python_version": platform.python_version(),
            "weights_state_sha256": state_sha256(model),
            "command": (
                f"python manage.py train_triage_model {recipe.name} --seed {seed} "
                f"--epochs {recipe.epochs} --train {recipe.n_train} --val {recipe.n_val} "
                f"--shifted {recipe.n_shifted}"
            ),
        },
    )
    report("write", message=f"writing {directory}")
    card_path = write_package(directory, card=card, module=model, overwrite=overwrite)
    written = _read_json(card_path)
    weights_path = directory / written["weights"]["file"]
    report("done", message=f"{recipe.name} {VERSION} written to {directory}")
    return {
        "name": recipe.name,
        "version": VERSION,
        "directory": str(directory),
        "card": str(card_path),
        "weights_file": str(weights_path),
        "weights_bytes": weights_path.stat().st_size,
        "weights_sha256": written["weights"]["sha256"],
        "state_sha256": card["training"]["weights_state_sha256"],
        "seed": seed,
        "epochs": recipe.epochs,
        "n_train": recipe.n_train,
        "n_calibration": n_cal,
        "loss_per_epoch": history,
        "temperature": temperature,
        "threshold": threshold,
        "calibration_split": {
            "n": n_cal,
            "sensitivity": at_cal["sensitivity"],
            "specificity": at_cal["specificity"],
        },
        "held_out": _brief(results["held_out"]),
        "shifted": _brief(results["shifted"]),
        "duration_s": duration,
        "data_generation_s": data_seconds,
        "training_s": train_seconds,
    }


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _brief(result: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "n",
        "auc",
        "auc_ci95",
        "ece_before_calibration",
        "ece_after_calibration",
        "sensitivity",
        "specificity",
    )
    return {key: result[key] for key in keys}


def _card(
    recipe: Recipe,
    *,
    seed: int,
    train: _Split,
    n_cal: int,
    temperature: float,
    separated: bool,
    threshold: float,
    logit_threshold: float,
    at_cal: dict[str, Any],
    cal_ece: tuple[float, float],
    results: dict[str, dict[str, Any]],
    bootstrap: int,
    training: dict[str, Any],
) -> dict[str, Any]:
    held, shifted = results["held_out"], results["shifted"]
    variants = {v: train.variants.count(v) for v in recipe.variants}
    if recipe.kind == "ct-volume":
        input_spec: dict[str, Any] = {
            "kind": "ct-volume",
            "size": recipe.size,
            "channels": len(recipe.windows),
            "windows": [
                {"name": w, "center": WINDOWS[w][0], "width": WINDOWS[w][1]} for w in recipe.windows
            ],
            "slices": recipe.slices,
            "preprocessing": (
                "HU clipped to -1024..3071, area-resized to size x size, then one linear "
                "window per channel (triage.core.preprocess.prepare_ct_volume); slices max-pooled "
                "by the network, so other slice counts run too"
            ),
            "trained_from_matrix": recipe.source_size,
        }
        lesions = (
            f"intracranial bleeds: {variants.get('intraparenchymal', 0)} intraparenchymal, "
            f"{variants.get('subdural', 0)} subdural (25-45 HU above parenchyma)"
        )
        phantom = (
            f"axial head CT phantoms, {recipe.slices} slices of {recipe.source_size} x "
            f"{recipe.source_size} HU"
        )
    else:
        input_spec = {
            "kind": "radiograph",
            "size": recipe.size,
            "channels": 1,
            "preprocessing": (
                "presentation (header VOI window, MONOCHROME1 inverted) to [0, 1] bright = "
                "dense, then area-resized to size x size "
                "(triage.core.preprocess.prepare_radiograph)"
            ),
            "trained_from_matrix": recipe.source_size,
        }
        lesions = (
            f"apical/lateral pneumothoraces: {variants.get('right', 0)} right, "
            f"{variants.get('left', 0)} left"
        )
        phantom = f"PA chest radiograph phantoms, {recipe.source_size} x {recipe.source_size}"

    n_pos = int(train.y.sum())
    verdict = (
        f"Held-out phantoms like the training data: AUC {held['auc']:.3f} "
        f"(95% CI {held['auc_ci95'][0]:.3f}-{held['auc_ci95'][1]:.3f}). Shifted phantoms: "
        f"AUC {shifted['auc']:.3f} (95% CI {shifted['auc_ci95'][0]:.3f}-"
        f"{shifted['auc_ci95'][1]:.3f}), sensitivity {shifted['sensitivity']:.2f} at the "
        "operating threshold. Synthetic data only: these figures say nothing about real "
        "patients."
    )
    return {
        "name": recipe.name,
        "version": VERSION,
        "intended_use": recipe.intended_use,
        "not_for_clinical_use": True,
        "label": LABEL,
        "applicability": {
            "modalities": list(recipe.modalities),
            "body_parts": list(recipe.body_parts),
        },
        "input": input_spec,
        "findings": [
            {
                "code": recipe.finding_code,
                "display": recipe.finding_display,
                "threshold": threshold,
                "snomed": recipe.snomed,
            }
        ],
        "calibration": {
            "method": "temperature",
            "temperature": temperature,
            "fitted_on": (
                f"calibration split (n={n_cal}): negative log-likelihood plus a normal prior "
                "(sd 1) on ln T, weighing as one example"
            ),
            "calibration_split_separated": separated,
            "note": (
                "the calibration split was perfectly separated, so the plain NLL has no minimum "
                "(T -> 0); the prior sets T, and probabilities are confident: read them as "
                "confident on phantoms like the training data only"
                if separated
                else "temperature fitted where classes overlap; see ECE per set in validation"
            ),
            "ece_before": _r(cal_ece[0]),
            "ece_after": _r(cal_ece[1]),
        },
        "training_data": {
            "source": (
                "synthetic phantoms from the hospital simulator "
                f"({recipe.simulator_function}); no patient data"
            ),
            "description": phantom,
            "n": len(train.y),
            "positives": n_pos,
            "negatives": len(train.y) - n_pos,
            "lesions": lesions,
            "appearance": "Appearance() (the simulator's default look)",
            "pairing": (
                "each phantom seed appears twice, with and without the finding (same anatomy "
                "and noise)"
            ),
            "seed": seed,
            "generator": f"numpy default_rng([seed, {SPLITS['train']}, pair index])",
            "preprocessing": "as triage.core.preprocess prepares the DICOM the simulator sends",
        },
        "validation": {
            "summary": verdict,
            "auc": held["auc"],
            "auc_ci95": held["auc_ci95"],
            "n": held["n"],
            "dataset": "held-out synthetic phantoms like the training data",
            "metrics": (
                "AUC by Mann-Whitney U with a stratified percentile bootstrap 95% CI "
                f"({bootstrap} resamples, seed {seed}); ECE over 10 equal-width bins; "
                "sensitivity/specificity at the card's threshold with Wilson 95% CIs"
            ),
            "threshold_selection": {
                "rule": (
                    "on the calibration split: the best specificity with sensitivity >= "
                    f"{TARGET_SENSITIVITY} (that of the highest such threshold), and at that "
                    "specificity the lowest threshold, midway between the highest-scoring "
                    "negative below it and the next score up (triage.core.train."
                    "choose_threshold); chosen on logits, mapped through the temperature"
                ),
                "threshold": threshold,
                "logit_threshold": _r(logit_threshold, 6),
                "n": n_cal,
                "sensitivity": _r(at_cal["sensitivity"]),
                "specificity": _r(at_cal["specificity"]),
            },
            "held_out": {
                "dataset": (
                    f"{held['n']} unseen phantoms like the training data (Appearance()), "
                    f"half positive; generator default_rng([seed, {SPLITS['held_out']}, i])"
                ),
                **held,
            },
            "shifted": {
                "dataset": (
                    f"{shifted['n']} unseen phantoms, half positive, shifted: "
                    f"{recipe.shift_description}; generator default_rng([seed, "
                    f"{SPLITS['shifted']}, i]); not used for any choice"
                ),
                **shifted,
            },
        },
        "training": training,
    }
