"""How good a triage model is, in numpy: AUC with bootstrap intervals, calibration, thresholds.

Used by training (``triage.core.train``) to fit the temperature and choose the operating point
on the calibration split, and to measure every validation set the model card reports. No
torch, no Django.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# The operating point a threshold is chosen for unless a recipe says otherwise.
TARGET_SENSITIVITY = 0.95

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


def roc_points(labels: np.ndarray, probs: np.ndarray, n_points: int = 21) -> list[dict[str, Any]]:
    """The ROC curve at ``n_points`` thresholds spread over the scores' quantiles."""
    y = _labels(labels)
    p = np.asarray(probs, np.float64).ravel()
    thresholds = np.unique(np.quantile(p, np.linspace(0.0, 1.0, n_points)))
    rows = []
    for threshold in thresholds:
        at = sensitivity_specificity(y, p, float(threshold))
        rows.append(
            {
                "threshold": round(float(threshold), 6),
                "sensitivity": None if at["sensitivity"] is None else round(at["sensitivity"], 4),
                "specificity": None if at["specificity"] is None else round(at["specificity"], 4),
            }
        )
    return rows
