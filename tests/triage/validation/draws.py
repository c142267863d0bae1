"""Draws the validation tests share (cached: a head CT takes a fraction of a second to draw and
tens of megabytes to hold), and the small array helpers they measure with."""

from __future__ import annotations

import functools

import numpy as np
from pydicom.dataset import Dataset

from triage.core.preprocess import pixel_array, presentation, sort_slices, to_hounsfield
from triage.core.validation.families import FAMILIES
from triage.core.validation.series import Drawn

# Every (task, family) pair, for parametrised tests.
ALL = [(task, name) for task, families in FAMILIES.items() for name in families]
HEAD = list(FAMILIES["head-ct-ich"])
CHEST = list(FAMILIES["cxr-pneumothorax"])


@functools.lru_cache(maxsize=12)
def drawn(task: str, family: str, seed: int, positive: bool) -> Drawn:
    return FAMILIES[task][family].draw(np.random.default_rng(seed), positive=positive)


def hounsfield(datasets: list[Dataset]) -> tuple[np.ndarray, list[Dataset]]:
    """The series in anatomical order as HU (slices, rows, columns), through the real decoding
    and modality LUT, and the sorted instances."""
    ordered = sort_slices(datasets)
    return np.stack([to_hounsfield(ds, pixel_array(ds)) for ds in ordered]), ordered


def shown(ds: Dataset) -> np.ndarray:
    """A radiograph as the triage pipeline presents it: 0..1, bright = dense."""
    return presentation(ds, pixel_array(ds))


def grow(mask: np.ndarray, radius: int, slices: int = 0) -> np.ndarray:
    """``mask`` dilated by a square of ``radius`` pixels in the last two axes and by ``slices``
    along the first axis of a 3-D mask (summed-area tables: linear time)."""
    m = mask.astype(np.int32)
    for axis in (-2, -1):
        n = m.shape[axis]
        before, after = [(0, 0)] * m.ndim, [(0, 0)] * m.ndim
        before[axis], after[axis] = (radius + 1, 0), (0, radius)
        # Window sums from a cumulative sum that starts at zero and repeats its end.
        c = np.pad(np.pad(np.cumsum(m, axis=axis), before), after, mode="edge")
        hi = np.take(c, np.arange(2 * radius + 1, 2 * radius + 1 + n), axis=axis)
        lo = np.take(c, np.arange(n), axis=axis)
        m = ((hi - lo) > 0).astype(np.int32)
    out = m > 0
    for _ in range(slices):
        grown = out.copy()
        grown[1:] |= out[:-1]
        grown[:-1] |= out[1:]
        out = grown
    return out
