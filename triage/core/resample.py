"""Resampling arrays along their last two axes, or their first: numpy only, no Django.

Shared by the DICOM preprocessing (``triage.core.preprocess``) and the head framing
(``triage.core.framing``), which must resample exactly alike.
"""

from __future__ import annotations

import numpy as np


def resample_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) float32 weights; every row sums to 1, so a constant image stays constant.

    Downsampling: area weights (each output pixel averages exactly the input it covers), which
    is the antialiasing filter; plain interpolation would skip pixels and alias thin structures
    such as a subdural rim. Upsampling: linear interpolation between pixel centres.
    """
    if n_out < n_in:
        scale = n_in / n_out
        lo = np.arange(n_out, dtype=np.float64)[:, None] * scale
        j = np.arange(n_in, dtype=np.float64)[None, :]
        weights = np.minimum(lo + scale, j + 1.0) - np.maximum(lo, j)
        return (np.clip(weights, 0.0, None) / scale).astype(np.float32)
    pos = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0, n_in - 1.0)
    left = np.minimum(np.floor(pos).astype(np.intp), max(n_in - 2, 0))
    frac = pos - left
    m = np.zeros((n_out, n_in), np.float32)
    rows = np.arange(n_out)
    m[rows, left] = 1.0 - frac
    if n_in > 1:
        m[rows, left + 1] += frac
    return m


def resize(image: np.ndarray, size: int, *, pad_value: float | None = None) -> np.ndarray:
    """The last two axes resampled to (size, size) as float32; leading axes untouched.

    The image is first padded to a square, centred, so anatomy keeps its aspect ratio (a model
    must not see a stretched chest on one detector and a squashed one on another). The pad
    value is the array's minimum unless ``pad_value`` is given: for HU that is air, for a
    presented radiograph it is black, so the padding looks like background and not like tissue.
    For a volume the minimum is the whole volume's, so every slice pads alike.

    Then an integer factor is a block average (exact area averaging, the cheapest case: a 512
    matrix to 128); any other factor uses separable weight matrices (area weights down, linear
    up), one matrix product per axis. Numpy only.
    """
    a = np.asarray(image, dtype=np.float32)
    if a.ndim < 2:
        raise ValueError(f"resize needs at least 2 dimensions, got shape {a.shape}")
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    h, w = a.shape[-2:]
    n = max(h, w)
    if h != w:
        fill = float(a.min()) if pad_value is None else float(pad_value)
        padded = np.full((*a.shape[:-2], n, n), fill, np.float32)
        top, left = (n - h) // 2, (n - w) // 2
        padded[..., top : top + h, left : left + w] = a
        a = padded
    if n == size:
        return a.copy() if a is image else a
    if n % size == 0:
        # Block average as f whole-row additions then f strided column additions: each is one
        # vectorised pass, ~5x faster than ``reshape(...).mean(axis=(-3, -1))``.
        f = n // size
        blocks = a.reshape((*a.shape[:-2], size, f, n))
        rows = blocks[..., 0, :].copy()
        for k in range(1, f):
            rows += blocks[..., k, :]
        out = rows[..., 0::f].copy()
        for k in range(1, f):
            out += rows[..., k::f]
        out *= np.float32(1.0 / (f * f))
        return out
    m = resample_weights(n, size)
    return np.matmul(np.matmul(m, a), m.T)
