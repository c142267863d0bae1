"""The head, not the matrix: every head CT framed alike before a model reads it. No Django.

Head CTs arrive at 256 or 512 matrices, with 180-300 mm fields of view, 16-64 slices of 0.6-10
mm, the head off centre or tilted, and calibrations a few HU apart from scanner to scanner. A
network that reads them as they come learns those accidents: where the head sits in the
matrix, how many slices there are, what the brain's HU happens to be on the scanners it was
trained on. So every series is framed the same way first:

1. the head is found (everything denser than ``HEAD_THRESHOLD_HU``: air and foam pillows are
   less dense), slices that cut through little of it are dropped, and the in-plane box around
   it becomes a square with a margin, cropped from the full-resolution slices;
2. the box is area-resized to ``size`` x ``size`` and the slices resampled to ``slices`` (area
   averaging down, linear interpolation up), so a 64 x 1 mm series and a 20 x 5 mm series both
   arrive as the same number of slabs through the same head;
3. HU are referred to the brain: the median of the parenchyma-range voxels is moved to
   ``REFERENCE_HU``, within +-``MAX_HU_SHIFT``. A scanner that reads everything 8 HU high
   (kVp, calibration) would otherwise push normal grey matter toward blood.

What framing measures on the way (how much of the volume is head, how much of it lies in the
brain window, how far the HU had to move) feeds the input checks in ``triage.core.quality``.
Numpy only; the same function frames the DICOM a hospital sent and the phantoms a model
trains on, so training and use cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from triage.core.resample import resample_weights, resize

# Denser than air (-1000), lung and foam head-rests (-900..-600), so skin, fat (-100) and
# everything inside count as head.
HEAD_THRESHOLD_HU = -300.0
# A slice belongs to the head when it cuts through at least this share of the largest
# cross-section: the vertex cap and the skull base's last slices hold too little to frame.
MIN_SLICE_SHARE = 0.08
# Rows and columns whose head profile is below this share of the peak are background (a
# head-rest's edge, a stray bright pixel).
MIN_PROFILE_SHARE = 0.02
MARGIN = 1.08
# Parenchyma sits at 25-45 HU on every scanner; blood at 50-90, CSF at 0-15.
PARENCHYMA_RANGE_HU = (15.0, 60.0)
REFERENCE_HU = 33.0
MAX_HU_SHIFT = 15.0
AIR_HU = -1024.0


@dataclass
class HeadFrame:
    """A framed head: HU (slices, size, size), and what framing found on the way."""

    hu: np.ndarray
    # The source box: slices [z0, z1), rows and columns of the square crop (may leave the
    # matrix: the outside reads as air).
    box: tuple[int, int, int, int, int, int]
    hu_shift: float
    measures: dict[str, float] = field(default_factory=dict)
    found: bool = True


def _heaviest_run(weights: np.ndarray, floor: float) -> tuple[int, int]:
    """[start, stop) of the consecutive entries above ``floor`` with the largest total weight.

    A head-rest or a second object separated from the head by air is a run of its own, and
    the head outweighs it.
    """
    above = weights > floor
    best, best_weight, start = (0, 0), -1.0, None
    for i, inside in enumerate([*above.tolist(), False]):
        if inside and start is None:
            start = i
        elif not inside and start is not None:
            weight = float(weights[start:i].sum())
            if weight > best_weight:
                best, best_weight = (start, i), weight
            start = None
    return best


LABEL_GRID = 128


def _runs(inside: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, start, stop) of every horizontal run of ``inside``, in raster order."""
    edges = np.diff(np.pad(inside, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    rows, starts = np.nonzero(edges == 1)
    _, stops = np.nonzero(edges == -1)
    return rows, starts, stops


def _run_parts(rows: np.ndarray, starts: np.ndarray, stops: np.ndarray, n_rows: int) -> list:
    """For every run, the first run (in raster order) of the 4-connected part it belongs to.

    A row's runs join the runs of the row above that they overlap (union-find), so Python
    loops over a few hundred runs, not over every cell as a flood fill does.
    """
    parent = list(range(len(rows)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # The runs of two consecutive rows, walked side by side: two runs touch when they overlap.
    first_of_row = np.searchsorted(rows, np.arange(n_rows + 1))
    for r in range(1, n_rows):
        a, a_end = first_of_row[r - 1], first_of_row[r]
        b, b_end = a_end, first_of_row[r + 1]
        while a < a_end and b < b_end:
            if starts[a] < stops[b] and starts[b] < stops[a]:
                ra, rb = root(a), root(b)
                parent[max(ra, rb)] = min(ra, rb)  # a part's root stays its first run
            if stops[a] <= stops[b]:
                a += 1
            else:
                b += 1
    return [root(i) for i in range(len(rows))]


def label_parts(inside: np.ndarray) -> np.ndarray:
    """Every 4-connected part of a 2-D mask numbered from 1 (0 outside it), by runs."""
    labels = np.zeros(inside.shape, np.int32)
    rows, starts, stops = _runs(inside)
    if not len(rows):
        return labels
    parts = np.asarray(_run_parts(rows, starts, stops, inside.shape[0])) + 1
    # Each run painted with its part: +part at its start, -part at its stop, summed on the row.
    marks = np.zeros((inside.shape[0], inside.shape[1] + 1), np.int64)
    np.add.at(marks, (rows, starts), parts)
    np.add.at(marks, (rows, stops), -parts)
    labels[:] = np.cumsum(marks, axis=1)[:, :-1]
    return labels


def _heaviest_part(inside: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The 4-connected part of ``inside`` with the largest total ``weight`` (the first in
    raster order among equals, as a flood fill in raster order finds it), as a mask; all of
    the array when ``inside`` is empty."""
    rows, starts, stops = _runs(inside)
    if not len(rows):
        return np.ones(inside.shape, bool)  # nothing solid enough to label: all of it stays
    parts = _run_parts(rows, starts, stops, inside.shape[0])
    sums = np.concatenate([np.zeros((weight.shape[0], 1)), np.cumsum(weight, axis=1)], axis=1)
    run_weights = sums[rows, stops] - sums[rows, starts]
    totals: dict[int, float] = {}
    for part, run_weight in zip(parts, run_weights.tolist(), strict=True):
        totals[part] = totals.get(part, 0.0) + run_weight
    best = max(totals, key=lambda k: (totals[k], -k))
    mask = np.zeros(inside.shape, bool)
    for i, part in enumerate(parts):
        if part == best:
            mask[rows[i], starts[i] : stops[i]] = True
    return mask


def _grown(mask: np.ndarray) -> np.ndarray:
    """``mask`` and its 4-neighbours."""
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    return out


def _largest_part(silhouette: np.ndarray) -> np.ndarray:
    """The silhouette's heaviest 4-connected part, on a coarse grid: the head, not the holder.

    A head holder, a couch or a cable is in every slice, as the head is, and may frame it on
    three sides; but it is separated from the head by air somewhere, and the head outweighs it.
    The silhouette is reduced to at most LABEL_GRID cells a side (a cell is inside when all its
    pixels are, so an air gap of one pixel keeps two parts apart), its parts labelled (by
    runs), and the heaviest part grown back by a cell to keep its edge.
    """
    h, w = silhouette.shape
    f = max(1, -(-max(h, w) // LABEL_GRID))
    padded = np.zeros((-(-h // f) * f, -(-w // f) * f))
    padded[:h, :w] = silhouette
    coarse = padded.reshape(padded.shape[0] // f, f, padded.shape[1] // f, f)
    weight = np.pad(coarse.sum(axis=(1, 3)), 1)
    # A border of outside, so a neighbour is always inside the array.
    inside = np.pad((coarse > 0).all(axis=(1, 3)), 1)
    part = _heaviest_part(inside, weight)
    # Grown by one cell: the blocks the head only partly covers are its edge, kept.
    grown = _grown(part)[1:-1, 1:-1]
    keep = grown.repeat(f, axis=0).repeat(f, axis=1)[:h, :w]
    return np.where(keep, silhouette, 0.0)


def head_box(hu: np.ndarray) -> tuple[int, int, int, int, int, int] | None:
    """(z0, z1, r0, r1, c0, c1) of the head in a (slices, rows, cols) HU volume, or None."""
    inside = hu > HEAD_THRESHOLD_HU
    area = np.count_nonzero(inside, axis=(1, 2)).astype(np.float64)
    if area.max() <= 0:
        return None
    z0, z1 = _heaviest_run(area, MIN_SLICE_SHARE * area.max())
    silhouette = inside[z0:z1].sum(axis=0).astype(np.float64)
    head = _largest_part(silhouette)
    if head.max() > 0:
        silhouette = head
    rows = silhouette.sum(axis=1)
    r0, r1 = _heaviest_run(rows, MIN_PROFILE_SHARE * rows.max())
    cols = silhouette[r0:r1].sum(axis=0)
    c0, c1 = _heaviest_run(cols, MIN_PROFILE_SHARE * cols.max())
    return z0, z1, r0, r1, c0, c1


def _square(lo: int, hi: int, side: int) -> tuple[int, int]:
    centre = (lo + hi) / 2.0
    start = round(centre - side / 2.0)
    return start, start + side


def _crop(
    hu: np.ndarray, rows: tuple[int, int], cols: tuple[int, int], fill: float = AIR_HU
) -> np.ndarray:
    """hu[:, rows, cols], reading ``fill`` outside the matrix (a view when it is all inside)."""
    n, h, w = hu.shape
    if rows[0] >= 0 and cols[0] >= 0 and rows[1] <= h and cols[1] <= w:
        return hu[:, rows[0] : rows[1], cols[0] : cols[1]]
    out = np.full((n, rows[1] - rows[0], cols[1] - cols[0]), fill, np.float32)
    r0, r1 = max(rows[0], 0), min(rows[1], h)
    c0, c1 = max(cols[0], 0), min(cols[1], w)
    if r1 > r0 and c1 > c0:
        out[:, r0 - rows[0] : r1 - rows[0], c0 - cols[0] : c1 - cols[0]] = hu[:, r0:r1, c0:c1]
    return out


def resample_slices(volume: np.ndarray, slices: int) -> np.ndarray:
    """(n, ...) -> (slices, ...) along the first axis: area weights down, linear up."""
    n = volume.shape[0]
    if n == slices:
        return volume
    m = resample_weights(n, slices)
    flat = volume.reshape(n, -1)
    return (m @ flat).reshape((slices, *volume.shape[1:])).astype(np.float32, copy=False)


def frame_array(
    volume: np.ndarray, box: tuple, *, size: int, slices: int, fill: float = AIR_HU
) -> np.ndarray:
    """Any array aligned with the source volume (HU, a lesion mask as 0/1) framed like it."""
    z0, z1, r0, r1, c0, c1 = box
    cropped = _crop(np.asarray(volume[z0:z1], np.float32), (r0, r1), (c0, c1), fill)
    return resample_slices(resize(cropped, size, pad_value=fill), slices)


def _measures(framed: np.ndarray, source: np.ndarray, box: tuple) -> dict[str, float]:
    head = framed > HEAD_THRESHOLD_HU
    n_head = max(int(head.sum()), 1)
    in_brain_window = (framed >= 0.0) & (framed <= 80.0)
    z0, z1 = box[0], box[1]
    return {
        "head_fraction": float(head.mean()),
        "brain_window_fraction": float(in_brain_window.sum() / n_head),
        "air_fraction": np.count_nonzero(source < -500.0) / source.size,
        "head_slices": float(z1 - z0),
        "source_slices": float(source.shape[0]),
        "box_side_px": float(box[3] - box[2]),
        "matrix_px": float(max(source.shape[1:])),
    }


# What a skull is made of for ``cranial_share``: denser than any soft tissue or blood, less
# dense than the thinnest temporal squama still reads on a 5 mm slice.
SKULL_HU = 250.0
# A slice is cranial when bone closes around at least this share of the head's cross-section
# and at least ``MIN_BRAIN_SHARE`` of what it closes around reads 0-80 HU (brain, CSF, blood).
MIN_ENCLOSED_SHARE = 0.4
MIN_BRAIN_SHARE = 0.5
# Where the head runs off the image (off centre, or a field of view drawn tight), the image's
# edge may be at most this share of the outline of what its skull closes around, and of the
# head's own outline: a body filled the image when the edge is all of it.
MAX_EDGE_SHARE = 0.35
MAX_CUT_SHARE = 0.9
CRANIAL_SAMPLES = 12


def _enclosed(bone: np.ndarray, head: np.ndarray, unimaged: np.ndarray) -> np.ndarray:
    """The cells no 4-connected path of non-bone cells joins to the outside: what a closed ring
    of bone surrounds (a ring joined only at corners still closes, as it does on the image).

    Where the head runs out of what was imaged (a head off centre: its back beyond the matrix
    or the reconstruction circle), what lies beyond is unknown: the unimaged cells beside the
    head close the ring there, and ``_cranial_slice`` limits how much of a ring they may be.
    ``unimaged`` covers the grid and a ring of one cell around it.
    """
    closed = np.pad(bone, 1) | (unimaged & _grown(np.pad(head, 1)))
    # One more ring, open: the outside is one part, the one at the corner.
    labels = label_parts(np.pad(~closed, 1, constant_values=True))
    return ((labels > 0) & (labels != labels[0, 0]))[2:-2, 2:-2]


def _unimaged(shape: tuple[int, int], f: int, origin: tuple[int, int], matrix: tuple[int, int]):
    """Which cells of a grid (and a ring of one cell around it) lie outside the image: beyond
    the matrix, or outside the reconstruction circle inscribed in it, where scanners write
    padding. ``origin``: the grid's first pixel in the matrix; cells are ``f`` pixels."""
    y = origin[0] + (np.arange(-1, shape[0] + 1) + 0.5) * f
    x = origin[1] + (np.arange(-1, shape[1] + 1) + 0.5) * f
    h, w = matrix
    radius = min(h, w) / 2.0
    outside = (y[:, None] - h / 2.0) ** 2 + (x[None, :] - w / 2.0) ** 2 > radius**2
    beyond = np.ones(outside.shape, bool)
    beyond[1:-1, 1:-1] = False
    return outside | beyond


def _rim(mask: np.ndarray, near_edge: np.ndarray) -> float:
    """The share of ``mask``'s outline (its cells with a 4-neighbour outside it) that lies
    beside the image's edge."""
    rim = mask & _grown(~np.pad(mask, 1))[1:-1, 1:-1]
    return float((rim & near_edge).sum()) / max(int(rim.sum()), 1)


def _cranial_slice(hu_slice: np.ndarray, origin: tuple[int, int], matrix: tuple[int, int]) -> bool:
    """Whether bone closes around most of this slice's head, and brain fills what it closes.

    ``hu_slice`` is cropped from a ``matrix``-sized slice at ``origin`` (row, column)."""
    h, w = hu_slice.shape
    f = max(1, -(-max(h, w) // LABEL_GRID))
    # Cells past the crop's last row or column take its edge pixels, not air: a head cut by
    # the edge stays cut at the grid's edge.
    padded = np.pad(hu_slice, ((0, -(-h // f) * f - h), (0, -(-w // f) * f - w)), mode="edge")
    cells = padded.reshape(padded.shape[0] // f, f, padded.shape[1] // f, f)
    # A cell is bone when any of its pixels is: a thin skull stays closed on the coarse grid.
    bone = (cells > SKULL_HU).any(axis=(1, 3))
    head = (cells > HEAD_THRESHOLD_HU).mean(axis=(1, 3)) > 0.5
    unimaged = _unimaged(bone.shape, f, origin, matrix)
    enclosed = _enclosed(bone, head, unimaged)
    n_enclosed = int(enclosed.sum())
    if not head.any() or n_enclosed < MIN_ENCLOSED_SHARE * int(head.sum()):
        return False
    # A head is imaged with air around most of it, and its skull, not the image's edge, closes
    # around the brain; a body filling a small field of view is cut by the edge all round.
    near_edge = _grown(unimaged)[1:-1, 1:-1]
    if _rim(head, near_edge) > MAX_CUT_SHARE or _rim(enclosed, near_edge) > MAX_EDGE_SHARE:
        return False
    brain = ((cells >= 0.0) & (cells <= 80.0)).mean(axis=(1, 3))
    return float(brain[enclosed].mean()) >= MIN_BRAIN_SHARE


def cranial_share(hu: np.ndarray, box: tuple[int, int, int, int, int, int]) -> float:
    """The share of the head's slices on which a skull closes around brain (0 to 1).

    For a CT whose header does not say what was scanned: a head shows bone closed around
    brain-dense tissue on most of its slices, and nothing else does. A neck's vertebra closes
    around its spinal canal, but that is a sliver of the neck; ribs leave gaps; a pelvis closes
    around bowel and fat, a small part of the hips' cross-section. Up to ``CRANIAL_SAMPLES``
    slices spread evenly through the head's run are looked at, cropped to the head's box.
    """
    z0, z1, r0, r1, c0, c1 = box
    if z1 <= z0:
        return 0.0
    _, h, w = hu.shape
    rows = slice(max(r0, 0), min(r1, h))
    cols = slice(max(c0, 0), min(c1, w))
    picks = sorted(set(np.linspace(z0, z1 - 1, min(CRANIAL_SAMPLES, z1 - z0)).round().astype(int)))
    cranial = [
        _cranial_slice(np.asarray(hu[z, rows, cols], np.float32), (rows.start, cols.start), (h, w))
        for z in picks
    ]
    return sum(cranial) / len(cranial)


def _parenchyma_shift(framed: np.ndarray) -> tuple[float, float | None]:
    """(shift applied, median of the parenchyma-range voxels or None when there are none)."""
    lo, hi = PARENCHYMA_RANGE_HU
    values = framed[(framed > lo) & (framed < hi)]
    if values.size < 0.02 * framed.size:
        return 0.0, None
    median = float(np.median(values))
    return float(np.clip(REFERENCE_HU - median, -MAX_HU_SHIFT, MAX_HU_SHIFT)), median


def frame_head(hu: np.ndarray, *, size: int, slices: int) -> HeadFrame:
    """A (n, rows, cols) HU volume framed as (slices, size, size) HU around the head.

    When nothing denser than air is found, the whole matrix is framed as it is and ``found`` is
    False: the input checks say so, and the model still gets an array of the right shape.
    """
    hu = np.asarray(hu, np.float32)
    box = head_box(hu)
    found = box is not None
    if box is None:
        box = (0, hu.shape[0], 0, hu.shape[1], 0, hu.shape[2])
    z0, z1, r0, r1, c0, c1 = box
    side = max(round(max(r1 - r0, c1 - c0) * MARGIN), 8)
    rows, cols = _square(r0, r1, side), _square(c0, c1, side)
    square_box = (z0, z1, rows[0], rows[1], cols[0], cols[1])
    framed = frame_array(hu, square_box, size=size, slices=slices)
    measures = _measures(framed, hu, square_box)
    shift, median = _parenchyma_shift(framed)
    measures["parenchyma_median_hu"] = float("nan") if median is None else median
    if shift:
        framed = framed + np.float32(shift)
    return HeadFrame(framed, square_box, shift, measures, found)
