"""Random fields and small array helpers for the training phantoms. Numpy only."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from triage.core.resample import resample_weights


def upsample(a: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Linear resampling to ``shape``, one matrix product per axis."""
    for axis, n in enumerate(shape):
        if a.shape[axis] != n:
            m = resample_weights(a.shape[axis], n)
            a = np.moveaxis(np.tensordot(m, a, axes=([1], [axis])), 0, axis)
    return np.ascontiguousarray(a, dtype=np.float32)


def smooth_field(
    rng: np.random.Generator, shape: Sequence[int], cell_px: Sequence[float]
) -> np.ndarray:
    """A roughly unit-variance random field whose blobs are about ``cell_px`` voxels across.

    White noise on a coarse grid (one value per cell), linearly interpolated up: cheap whatever
    the output size, and smooth enough for textures, folds and irregular margins.
    """
    coarse = tuple(
        max(2, int(np.ceil(n / max(c, 1.0))) + 1) for n, c in zip(shape, cell_px, strict=True)
    )
    field = upsample(rng.standard_normal(coarse).astype(np.float32), shape)
    field -= field.mean()
    field /= field.std() + 1e-6
    return field


def box_blur(a: np.ndarray, r: int, axes: Sequence[int] = (-2, -1)) -> np.ndarray:
    """Mean over a (2r+1) window along each of ``axes``, edges replicated (cumulative sums)."""
    if r <= 0:
        return a
    k = 2 * r + 1
    for axis in axes:
        axis %= a.ndim
        n = a.shape[axis]
        pad = [(0, 0)] * a.ndim
        pad[axis] = (r + 1, r)
        c = np.cumsum(np.pad(a, pad, mode="edge"), axis=axis, dtype=np.float64)
        hi = np.take(c, np.arange(k, k + n), axis=axis)
        lo = np.take(c, np.arange(0, n), axis=axis)
        a = ((hi - lo) / k).astype(np.float32)
    return a


def correlated_noise(
    rng: np.random.Generator, shape: Sequence[int], sd: float, r: int
) -> np.ndarray:
    """Noise of standard deviation ``sd`` whose grain is a (2r+1)-pixel box in plane.

    Reconstruction kernels correlate neighbouring pixels: r=0 is a sharp (bone) kernel, r=2 a
    soft one. The box mean divides the deviation by 2r+1, so the white noise is scaled first.
    """
    white = rng.standard_normal(tuple(shape), dtype=np.float32)
    return box_blur(white, r) * np.float32(sd * (2 * r + 1))


def log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """A 3x3 rotation (radians) about z (in-plane), then x (nodding), then y (tilting)."""
    cz, sz = np.cos(yaw), np.sin(yaw)
    cx, sx = np.cos(pitch), np.sin(pitch)
    cy, sy = np.cos(roll), np.sin(roll)
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    return rz @ rx @ ry
