"""Synthetic imaging studies: what a regional hospital's scanners would send us.

Django-free on purpose (numpy, pydicom and the standard library only): the hospital simulator,
the benchmarks and the AI training scripts all use it, and none of them should need settings
or a database.

Two layers:

* raw images with their ground truth, for training and validating models without DICOM:
  ``head_ct_volume``, ``chest_image``, ``mr_brain_volume``. Each takes an ``Appearance`` so a
  validation set can be *shifted* (noisier, subtler, smaller lesions) from the training set.
* DICOM series and studies built on them: ``head_ct``, ``chest_radiograph``, ``mr_brain`` and
  ``make_study``, with the headers real modalities write (several vendors' styles).

Everything, UIDs included, is drawn from the ``numpy.random.Generator`` passed in, so one seed
replays the same study byte for byte (given the same ``study_datetime``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ComputedRadiographyImageStorage,
    CTImageStorage,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    MRImageStorage,
    RLELossless,
    generate_uid,
)

__all__ = [
    "KINDS",
    "PRIORITIES",
    "SCANNERS",
    "Appearance",
    "Lesioned",
    "Patient",
    "Scanner",
    "StudyHeader",
    "SyntheticStudy",
    "chest_image",
    "chest_radiograph",
    "head_ct",
    "head_ct_volume",
    "make_study",
    "mr_brain",
    "mr_brain_volume",
    "new_study_header",
    "random_patient",
]

KINDS = ("head-ct", "chest-xr", "mr-brain")
PRIORITIES = ("stat", "urgent", "routine")
# DICOM's Requested Procedure Priority has its own defined terms (PS3.3 C.4.11).
_DICOM_PRIORITY = {"stat": "STAT", "urgent": "HIGH", "routine": "ROUTINE"}
# Multi-byte ISO 2022 sets may not be the first value of Specific Character Set: the first
# value is the default repertoire, so these get an empty first value (PS3.3 C.12.1.1.2).
_MULTIBYTE_2022 = {"ISO 2022 IR 87", "ISO 2022 IR 159", "ISO 2022 IR 149", "ISO 2022 IR 58"}


# --------------------------------------------------------------------------------------------
# Appearance and ground truth


@dataclass(frozen=True)
class Appearance:
    """Multipliers on the default look: noise level, lesion contrast and lesion size.

    A model trained on ``Appearance()`` and validated only on it learns the phantom, not the
    finding; validate on ``Appearance.shifted()`` too.
    """

    noise: float = 1.0
    contrast: float = 1.0
    lesion_scale: float = 1.0

    @classmethod
    def shifted(cls) -> Appearance:
        return cls(noise=2.0, contrast=0.45, lesion_scale=0.6)


class Lesioned(NamedTuple):
    """An image or volume with its ground-truth lesion mask (same shape, bool)."""

    image: np.ndarray
    mask: np.ndarray


# --------------------------------------------------------------------------------------------
# Small numpy helpers


def _uid(rng: np.random.Generator) -> UID:
    # Hashing 128 bits drawn from the generator: a seed replays the same UIDs, and two different
    # generators collide no more often than random UIDs do.
    return generate_uid(entropy_srcs=[rng.bytes(16).hex()])


def _interp_matrix(n_out: int, n_in: int) -> np.ndarray:
    m = np.zeros((n_out, n_in), np.float32)
    if n_in == 1:
        m[:, 0] = 1.0
        return m
    pos = np.linspace(0.0, n_in - 1.0, n_out)
    lo = np.clip(np.floor(pos).astype(np.intp), 0, n_in - 2)
    frac = (pos - lo).astype(np.float32)
    rows = np.arange(n_out)
    m[rows, lo] = 1.0 - frac
    m[rows, lo + 1] += frac
    return m


def _resize(a: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Linear resize, one matrix product per axis (far cheaper than per-voxel interpolation)."""
    for axis, n in enumerate(shape):
        if a.shape[axis] != n:
            m = _interp_matrix(n, a.shape[axis])
            a = np.moveaxis(np.tensordot(m, a, axes=([1], [axis])), 0, axis)
    return a.astype(np.float32, copy=False)


def _smooth_noise(
    rng: np.random.Generator, shape: Sequence[int], cells: Sequence[float]
) -> np.ndarray:
    """A unit-variance random field with about ``cells`` blobs along each axis.

    Drawn on a coarse grid, low-passed there and resized, so its cost hardly depends on the
    output size.
    """
    small = tuple(max(2, min(int(n), round(c * 4))) for n, c in zip(shape, cells, strict=True))
    white = rng.standard_normal(small)
    spectrum = np.fft.fftn(white)
    freq2 = sum(
        np.fft.fftfreq(n).reshape([-1 if i == k else 1 for k in range(len(small))]) ** 2
        for i, n in enumerate(small)
    )
    field_small = np.real(np.fft.ifftn(spectrum * np.exp(-freq2 * 2.0 * (np.pi * 1.5) ** 2)))
    field_small -= field_small.mean()
    field_small /= field_small.std() + 1e-9
    return _resize(field_small, shape)


def _box_blur(a: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window in the last two axes, edges replicated (cumulative sums)."""
    if r <= 0:
        return a
    k = 2 * r + 1
    for axis in (a.ndim - 2, a.ndim - 1):
        n = a.shape[axis]
        pad = [(0, 0)] * a.ndim
        pad[axis] = (r + 1, r)
        c = np.cumsum(np.pad(a, pad, mode="edge"), axis=axis, dtype=np.float64)
        hi = np.take(c, np.arange(k, k + n), axis=axis)
        lo = np.take(c, np.arange(0, n), axis=axis)
        a = ((hi - lo) / k).astype(np.float32)
    return a


def _correlated_noise(rng: np.random.Generator, shape: Sequence[int], sigma: float) -> np.ndarray:
    # Reconstruction kernels correlate neighbouring pixels' noise; pure white noise looks (and
    # trains) unlike a scanner. A 3x3 mean divides the standard deviation by 3, hence the 3.
    return _box_blur(rng.standard_normal(tuple(shape), dtype=np.float32), 1) * (3.0 * sigma)


def _centres(n: int, spacing: float) -> np.ndarray:
    return ((np.arange(n, dtype=np.float32) + 0.5) - n / 2.0) * spacing


# --------------------------------------------------------------------------------------------
# Head anatomy, shared by CT and MR

AIR, SCALP, CORTICAL_BONE, DIPLOE, CSF, GREY, WHITE, DEEP_GREY = range(8)
_HEAD_FOV_MM = 240.0
_HEAD_COVERAGE_MM = 110.0


@dataclass(frozen=True)
class _HeadAnatomy:
    labels: np.ndarray  # uint8 (slices, rows, cols), one of the tissue codes above
    texture: np.ndarray  # float32 smooth field ~N(0, 1): tissue heterogeneity
    depth: np.ndarray  # float32 approximate mm below the inner table (inside the brain)
    angle: np.ndarray  # float32 in-plane angle around the head centre (radians, 0 = patient left)
    z_mm: np.ndarray  # slice positions
    pixel_spacing: float
    slice_thickness: float
    # Head-centred, rotated coordinates (mm) of every voxel, for placing lesions.
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    inner_axes: tuple[float, float, float]


def _head_anatomy(rng: np.random.Generator, slices: int, size: int) -> _HeadAnatomy:
    spacing = _HEAD_FOV_MM / size
    thickness = round(_HEAD_COVERAGE_MM / slices, 2)
    scale = rng.uniform(0.92, 1.06)
    ax, ay, az = 72.0 * scale * rng.uniform(0.97, 1.03), 92.0 * scale, 82.0 * scale
    tilt = np.deg2rad(rng.normal(0.0, 4.0))
    cx, cy = rng.normal(0.0, 4.0, size=2)
    # Coverage from the skull base to near the vertex, as a routine head CT.
    z_mm = (-0.55 * az + (np.arange(slices, dtype=np.float32) + 0.5) * thickness).astype(np.float32)

    u = _centres(size, spacing)
    x0, y0 = u[None, :] - cx, u[:, None] - cy
    x2 = (np.cos(tilt) * x0 + np.sin(tilt) * y0)[None, :, :]
    y2 = (-np.sin(tilt) * x0 + np.cos(tilt) * y0)[None, :, :]
    z3 = z_mm[:, None, None]
    xz2, yz2 = x2.astype(np.float32), y2.astype(np.float32)

    def r2(a: float, b: float, c: float, ox: float = 0.0, oy: float = 0.0, oz: float = 0.0):
        return ((xz2 - ox) / a) ** 2 + ((yz2 - oy) / b) ** 2 + ((z3 - oz) / c) ** 2

    bone_t = rng.uniform(6.0, 8.0)
    labels = np.zeros((slices, size, size), np.uint8)
    labels[r2(ax + 5, ay + 5, az + 5) <= 1] = SCALP
    labels[r2(ax, ay, az) <= 1] = CORTICAL_BONE
    d = bone_t * 0.3
    labels[r2(ax - d, ay - d, az - d) <= 1] = DIPLOE
    d = bone_t * 0.75
    labels[r2(ax - d, ay - d, az - d) <= 1] = CORTICAL_BONE
    inner = (ax - bone_t, ay - bone_t, az - bone_t)
    r_in = np.sqrt(r2(*inner))
    brain = r_in <= 1
    depth = np.where(brain, (1.0 - r_in) * min(inner), 0.0).astype(np.float32)

    shape = labels.shape
    cells = (max(2.0, slices / 3), 10.0, 10.0)
    gyri = _smooth_noise(rng, shape, cells)
    sulci = _smooth_noise(rng, shape, (max(2.0, slices / 2), 20.0, 20.0))
    texture = _smooth_noise(rng, shape, (max(2.0, slices / 4), 6.0, 6.0))

    # Order matters: each tissue paints over the one before, deepest structures last.
    labels[brain] = WHITE
    labels[brain & (depth < 3.0 + 1.6 * np.clip(gyri + 1.0, 0.0, 3.0))] = GREY
    # Zero crossings of a smooth field wind like sulci; the thin rim is the subarachnoid space.
    labels[brain & (depth < 12.0) & (np.abs(sulci) < 0.12)] = CSF
    labels[brain & (depth < 1.3)] = CSF
    labels[brain & (np.abs(xz2) < 1.1) & (depth < 30.0)] = CSF  # interhemispheric fissure

    s = scale
    for side in (-1.0, 1.0):
        labels[brain & (r2(9 * s, 20 * s, 12 * s, side * 19 * s, -4 * s, 0.0) <= 1)] = DEEP_GREY
    v = s * rng.uniform(0.8, 1.4)  # ventricles widen with age and atrophy
    for side in (-1.0, 1.0):
        labels[brain & (r2(5.5 * v, 26 * s, 9 * v, side * 7 * v, -2 * s, 14 * s) <= 1)] = CSF
    labels[brain & (r2(1.8 * v, 10 * s, 7 * s, 0.0, 6 * s, -2 * s) <= 1)] = CSF
    labels[brain & (r2(4 * s, 3 * s, 5 * s, 0.0, 38 * s, -30 * s) <= 1)] = CSF

    angle = np.broadcast_to(np.arctan2(yz2 / inner[1], xz2 / inner[0]), shape)
    return _HeadAnatomy(
        labels=labels,
        texture=texture,
        depth=depth,
        angle=angle.astype(np.float32),
        z_mm=z_mm,
        pixel_spacing=spacing,
        slice_thickness=thickness,
        x=np.broadcast_to(xz2, shape),
        y=np.broadcast_to(yz2, shape),
        z=np.broadcast_to(z3, shape),
        inner_axes=inner,
    )


def _head_lesion(
    rng: np.random.Generator, anat: _HeadAnatomy, kind: str, appearance: Appearance
) -> np.ndarray:
    """Where an intracranial lesion is: an intraparenchymal ellipsoid or a subdural crescent."""
    brain = anat.labels >= CSF
    size_f = appearance.lesion_scale
    # Span at least three slices whatever the slice thickness: a one-slice blob is an artefact.
    min_half_z = 1.6 * anat.slice_thickness
    z_lo, z_hi = float(anat.z_mm[1]), float(anat.z_mm[-2])
    ax, ay, az = anat.inner_axes
    if kind == "subdural":
        side = rng.choice([-1.0, 1.0])
        centre = (0.0 if side > 0 else np.pi) + rng.normal(0.0, 0.35)
        span = rng.uniform(0.9, 1.4)
        width_mm = rng.uniform(5.0, 12.0) * size_f
        zc = rng.uniform(z_lo + 0.25 * (z_hi - z_lo), z_hi - 0.2 * (z_hi - z_lo))
        half_z = max(min_half_z, rng.uniform(25.0, 40.0) * size_f)
        dphi = np.angle(np.exp(1j * (anat.angle - centre)))
        taper = 1.0 - (dphi / span) ** 2 - ((anat.z - zc) / half_z) ** 2
        return brain & (taper > 0) & (anat.depth < width_mm * np.sqrt(np.clip(taper, 0, 1)))
    # Intraparenchymal: keep the centre well inside the brain so the ellipsoid stays intracranial.
    for _ in range(50):
        cx = rng.uniform(-0.55, 0.55) * ax
        cy = rng.uniform(-0.55, 0.55) * ay
        cz = rng.uniform(max(z_lo, -0.2 * az), min(z_hi, 0.5 * az))
        if (cx / ax) ** 2 + (cy / ay) ** 2 + (cz / az) ** 2 < 0.4 and abs(cx) > 6:
            break
    a = rng.uniform(9.0, 20.0) * size_f
    b = a * rng.uniform(0.6, 1.0)
    c = max(min_half_z, a * rng.uniform(0.7, 1.1))
    turn = rng.uniform(0, np.pi)
    dx, dy = anat.x - cx, anat.y - cy
    u = np.cos(turn) * dx + np.sin(turn) * dy
    w = -np.sin(turn) * dx + np.cos(turn) * dy
    r = np.sqrt((u / a) ** 2 + (w / b) ** 2 + ((anat.z - cz) / c) ** 2)
    # An irregular margin: clots are not ellipsoids.
    return brain & (r < 1.0 + 0.18 * anat.texture)


_CT_HU = {
    AIR: -1000.0,
    SCALP: 25.0,
    CORTICAL_BONE: 1400.0,
    DIPLOE: 1000.0,
    CSF: 7.0,
    GREY: 38.0,
    WHITE: 28.0,
    DEEP_GREY: 35.0,
}


def _ct_hu(rng: np.random.Generator, anat: _HeadAnatomy) -> np.ndarray:
    lut = np.array([_CT_HU[k] for k in range(8)], np.float32)
    # Per-patient tissue values move a little (age, hydration, scanner calibration).
    lut[CORTICAL_BONE] = rng.uniform(1250.0, 1500.0)
    lut[DIPLOE] = rng.uniform(950.0, 1150.0)
    lut[[GREY, WHITE, DEEP_GREY, CSF]] += rng.normal(0.0, 1.2, size=4).astype(np.float32)
    hu = lut[anat.labels]
    soft = (anat.labels >= SCALP) & (anat.labels != CORTICAL_BONE) & (anat.labels != DIPLOE)
    hu += np.where(soft, 1.5 * anat.texture, 0.0).astype(np.float32)
    return hu


def _head_ct(
    rng: np.random.Generator,
    slices: int,
    size: int,
    bleed: bool,
    bleed_type: str | None,
    appearance: Appearance | None,
) -> tuple[Lesioned, _HeadAnatomy]:
    appearance = appearance or Appearance()
    if bleed_type not in (None, "intraparenchymal", "subdural"):
        raise ValueError(f"unknown bleed_type {bleed_type!r}: intraparenchymal or subdural")
    # The lesion draws from its own stream, so one seed gives the same head and the same
    # noise with or without it: paired examples for training and for tests.
    lesion_rng = np.random.default_rng(rng.integers(2**63))
    anat = _head_anatomy(rng, slices, size)
    hu = _ct_hu(rng, anat)
    mask = np.zeros(hu.shape, bool)
    if bleed:
        kind = bleed_type or str(lesion_rng.choice(["intraparenchymal", "subdural"]))
        mask = _head_lesion(lesion_rng, anat, kind, appearance)
        blood = 38.0 + lesion_rng.uniform(25.0, 45.0) * appearance.contrast
        hu[mask] = blood + 2.0 * anat.texture[mask]
    # Partial volume at edges, then the reconstruction's noise.
    hu = _box_blur(hu, 1)
    hu += _correlated_noise(rng, hu.shape, 5.0 * appearance.noise)
    np.clip(hu, -1024.0, 3071.0, out=hu)
    return Lesioned(hu, mask), anat


def head_ct_volume(
    rng: np.random.Generator,
    *,
    slices: int = 20,
    size: int = 256,
    bleed: bool = False,
    bleed_type: str | None = None,
    appearance: Appearance | None = None,
) -> Lesioned:
    """An axial head CT in Hounsfield units, (slices, size, size) float32, and its bleed mask.

    ``bleed_type`` is ``"intraparenchymal"`` or ``"subdural"`` (drawn when None). Default blood
    is 25-45 HU above parenchyma (about 60-85 HU), noise about 5 HU; ``appearance`` scales both.
    """
    return _head_ct(rng, slices, size, bleed, bleed_type, appearance)[0]


# MR signal per tissue, arbitrary units, for the weightings a routine brain protocol has.
_MR_SIGNAL = {
    "T1": (0.0, 0.85, 0.05, 0.65, 0.12, 0.52, 0.72, 0.58),
    "T2": (0.0, 0.55, 0.05, 0.40, 0.95, 0.52, 0.36, 0.47),
    "FLAIR": (0.0, 0.50, 0.05, 0.38, 0.07, 0.60, 0.45, 0.55),
}
# (lesion signal as a multiple of white matter) mimicking an oedematous lesion.
_MR_LESION = {"T1": 0.65, "T2": 2.2, "FLAIR": 1.9}


def _mr_signal(
    rng: np.random.Generator,
    anat: _HeadAnatomy,
    weighting: str,
    lesion: np.ndarray | None,
    appearance: Appearance,
    lesion_level: float,
) -> np.ndarray:
    if weighting not in _MR_SIGNAL:
        raise ValueError(f"unknown MR weighting {weighting!r}: one of {sorted(_MR_SIGNAL)}")
    lut = np.array(_MR_SIGNAL[weighting], np.float32)
    sig = lut[anat.labels] * (1.0 + 0.03 * anat.texture)
    if lesion is not None and lesion.any():
        white = lut[WHITE]
        target = white * (1.0 + (_MR_LESION[weighting] - 1.0) * lesion_level * appearance.contrast)
        sig[lesion] = target
    # Receive-coil shading: a smooth multiplicative bias field, brighter near the surface.
    bias = 1.0 + 0.08 * _smooth_noise(rng, sig.shape, (2.0, 2.0, 2.0))
    sig = _box_blur(sig * bias, 1)
    # Magnitude images have Rician noise: the modulus of complex Gaussian noise.
    sigma = 0.025 * appearance.noise
    re = sig + rng.normal(0.0, sigma, sig.shape).astype(np.float32)
    im = rng.normal(0.0, sigma, sig.shape).astype(np.float32)
    return np.sqrt(re * re + im * im)


def _mr_phantom(
    rng: np.random.Generator, slices: int, size: int, lesion: bool, appearance: Appearance
) -> tuple[_HeadAnatomy, np.ndarray, float]:
    lesion_rng = np.random.default_rng(rng.integers(2**63))  # see _head_ct
    anat = _head_anatomy(rng, slices, size)
    mask = np.zeros(anat.labels.shape, bool)
    if lesion:
        mask = _head_lesion(lesion_rng, anat, "intraparenchymal", appearance)
    return anat, mask, float(lesion_rng.uniform(0.8, 1.0))


def mr_brain_volume(
    rng: np.random.Generator,
    *,
    slices: int = 20,
    size: int = 256,
    weighting: str = "T2",
    lesion: bool = False,
    appearance: Appearance | None = None,
) -> Lesioned:
    """An axial brain MR volume (signal ~0-1, float32) and the mask of a T2-bright lesion."""
    appearance = appearance or Appearance()
    anat, mask, level = _mr_phantom(rng, slices, size, lesion, appearance)
    return Lesioned(_mr_signal(rng, anat, weighting, mask, appearance, level), mask)


# --------------------------------------------------------------------------------------------
# Chest radiograph


def chest_image(
    rng: np.random.Generator,
    *,
    size: int = 512,
    pneumothorax: bool = False,
    side: str | None = None,
    appearance: Appearance | None = None,
) -> Lesioned:
    """A PA chest radiograph, (size, size) float32 in [0, 1] with bright = dense, and its mask.

    Image left is the patient's right, as radiographs are read. A pneumothorax sits at the apex
    and lateral edge of one lung (``side`` "right"/"left", drawn when None): no lung markings,
    darker, bounded by a thin white visceral pleural line.
    """
    appearance = appearance or Appearance()
    lesion_rng = np.random.default_rng(rng.integers(2**63))  # see _head_ct
    n = size
    c = (np.arange(n, dtype=np.float32) + 0.5) / n * 2.0 - 1.0
    tilt = rng.normal(0.0, 0.03)
    scale = rng.uniform(0.93, 1.05)
    ox, oy = rng.normal(0.0, 0.02, size=2)
    x0, y0 = c[None, :] - ox, c[:, None] - oy
    x = ((np.cos(tilt) * x0 + np.sin(tilt) * y0) / scale).astype(np.float32)
    y = ((-np.sin(tilt) * x0 + np.cos(tilt) * y0) / scale).astype(np.float32)

    width = rng.uniform(0.80, 0.90)
    torso = (np.abs(x) / width) ** 4 + (np.abs(y - 0.2) / 1.15) ** 4 < 1.0
    neck = (np.abs(x) < 0.17) & (y < -0.6)
    body = torso | neck
    thickness = np.sqrt(np.clip(1.0 - (x / width) ** 2, 0.0, 1.0))
    img = np.full((n, n), 0.03, np.float32)
    img[body] = (0.30 + 0.30 * thickness)[body]

    # Lungs: darkened by the air they hold, most where they are thickest.
    lungs: dict[str, tuple[np.ndarray, np.ndarray, tuple[float, float, float, float]]] = {}
    lung_any = np.zeros((n, n), bool)
    for name, sx, cy in (("right", -1.0, -0.05), ("left", 1.0, -0.01)):
        cx = sx * rng.uniform(0.33, 0.38)
        ax, ay = rng.uniform(0.24, 0.29), rng.uniform(0.55, 0.62)
        # Narrower towards the apex.
        narrowing = 0.7 + 0.3 * np.clip((y - cy + ay) / ay, 0.0, 1.0)
        s2 = ((x - cx) / (ax * narrowing)) ** 2 + ((y - cy) / ay) ** 2
        dome = cy + 0.42 * ay / 0.6 + 0.16 * ((x - cx) / ax) ** 2
        lung = (s2 < 1.0) & (y < dome)
        img -= np.where(lung, 0.30 * np.clip(1.0 - s2, 0.0, 1.0) ** 0.3, 0.0)
        lungs[name] = (lung, s2, (cx, cy, ax, ay))
        lung_any |= lung

    # Markings: vessels radiating from each hilum, fading to the periphery.
    swirl = _smooth_noise(rng, (n, n), (5.0, 5.0))
    fine = _smooth_noise(rng, (n, n), (40.0, 40.0))
    markings = np.zeros((n, n), np.float32)
    for lung, _, (cx, cy, _, _) in lungs.values():
        hx, hy = cx * 0.45, cy + 0.05
        d = np.hypot(x - hx, y - hy)
        theta = np.arctan2(y - hy, x - hx)
        # Two sets of radial streaks, broken up by a fine field: branching vessels seen end-on
        # and along their length, rather than a regular starburst.
        streaks = (0.5 + 0.5 * np.cos(17.0 * theta + 2.5 * swirl)) ** 10
        streaks += 0.6 * (0.5 + 0.5 * np.cos(31.0 * theta - 3.0 * swirl)) ** 12
        m = 0.6 * streaks * np.clip(0.6 + 0.5 * fine, 0.0, 1.0) + 0.3 * np.clip(fine, 0.0, None)
        m *= 0.5 + 0.5 * np.exp(-d / 0.35)  # fainter but still present at the periphery
        m += 0.9 * np.exp(-(d**2) / 0.006)  # the hilum itself
        markings += np.where(lung, m, 0.0)

    mask = np.zeros((n, n), bool)
    pleural_line = np.zeros((n, n), bool)
    if pneumothorax:
        side = side or str(lesion_rng.choice(["right", "left"]))
        if side not in lungs:
            raise ValueError(f"unknown side {side!r}: right or left")
        lung, s2, (cx, cy, ax, ay) = lungs[side]
        lateral = 1.0 if side == "left" else -1.0
        rho = np.sqrt(s2)
        phi = np.arctan2(y - cy, (x - cx) * lateral)  # 0 = lateral, -pi/2 = apex
        centre = lesion_rng.uniform(-1.3, -0.7)
        span = lesion_rng.uniform(0.8, 1.4)
        depth = lesion_rng.uniform(0.10, 0.25) * appearance.lesion_scale
        w = depth * np.clip(1.0 - ((phi - centre) / span) ** 2, 0.0, 1.0)
        edge = 1.0 - w
        mask = lung & (w > 0.0) & (rho > edge)
        line_half = 1.3 * (2.0 / n) / ax  # about 1.3 pixels
        pleural_line = lung & (w > 0.02) & (np.abs(rho - edge) < line_half) & ~mask
        markings[mask] = 0.0

    img += 0.14 * markings

    heart_scale = rng.uniform(0.9, 1.15)
    h2 = ((x - 0.10) / (0.29 * heart_scale)) ** 2 + ((y - 0.30) / 0.25) ** 2
    img += 0.17 * np.clip(1.0 - h2, 0.0, 1.0) ** 0.35
    mediastinum = (np.abs(x) < 0.11 + 0.04 * (y > 0)) & (y > -0.75) & (y < 0.55)
    img += 0.14 * _box_blur(mediastinum.astype(np.float32), max(1, n // 128))
    spine = (np.abs(x) < 0.07) & (((y + 1.0) / 0.09) % 1.0 < 0.8) & body
    img += np.where(spine, 0.05, 0.0)
    img += 0.12 * (np.hypot(x - 0.12, y + 0.22) < 0.07)  # aortic knob

    # Ribs: arcs down and out from the spine; clavicles across the apices.
    rib_t = (y + 0.98 - 0.5 * (np.abs(x) - 0.3) ** 2) / 0.115
    rib_p = rib_t % 1.0
    ribs = (rib_t >= 0) & (rib_t < 10) & (rib_p < 0.3) & (np.abs(x) > 0.08) & (np.abs(x) < 0.8)
    rib_profile = np.sqrt(np.clip(np.sin(np.pi * rib_p / 0.3), 0.0, 1.0))
    img += np.where(ribs & body, 0.06 * rib_profile, 0.0)
    for sx in (-1.0, 1.0):
        dist = np.abs((y + 0.68) + 0.18 * (x * sx - 0.08))
        clavicle = (dist < 0.025) & (x * sx > 0.06) & (x * sx < 0.6)
        img += np.where(clavicle, 0.12, 0.0)

    if pneumothorax:
        img[mask] -= lesion_rng.uniform(0.06, 0.10) * appearance.contrast
        img[pleural_line] += 0.08 * appearance.contrast

    # Detector blur, scatter and quantum noise.
    img = _box_blur(img, 1)
    img += 0.02 * _smooth_noise(rng, (n, n), (2.0, 2.0))
    img += rng.normal(0.0, 0.012 * appearance.noise, (n, n)).astype(np.float32)
    np.clip(img, 0.0, 1.0, out=img)
    return Lesioned(img, mask)


# --------------------------------------------------------------------------------------------
# Headers: patients, scanners, studies

_FAMILY = ("KIM", "LEE", "PARK", "CHOI", "JUNG", "SMITH", "JOHNSON", "GARCIA", "NGUYEN", "BROWN")
_FAMILY += ("MUELLER", "ROSSI", "DUBOIS", "SILVA", "KOWALSKI", "OKAFOR", "TANAKA", "HANSEN")
_GIVEN = ("MINJUN", "SEOYEON", "JIHO", "HANA", "JAMES", "MARY", "CARLOS", "LINH", "ANNA", "PETER")
_GIVEN += ("LUCA", "CLAIRE", "JOAO", "EWA", "CHIDI", "YUKI", "SOFIE", "DAVID", "GRACE", "OMAR")
_NON_ASCII_NAMES = (
    "Hong^Gildong=洪^吉洞=홍^길동",
    "Kim^Minjun=金^敏俊=김^민준",
    "Lee^Seoyeon=李^瑞妍=이^서연",
    "Yamada^Tarou=山田^太郎=やまだ^たろう",
    "Wang^Xiaoming=王^小明",
    "Müller^Jürgen",
    "Peña^José",
    "Dubois^Hélène",
    "Łukasiewicz^Zofia",
)
_PHYSICIANS = ("Park^Jisoo", "Rivera^Ana", "Okoye^Emeka", "Lindqvist^Karin", "Cho^Daniel")
_PHYSICIANS += ("Haddad^Rami", "Moreau^Julie", "Sato^Kenji")


@dataclass(frozen=True)
class Patient:
    patient_id: str
    name: str  # DICOM PN: Family^Given, optionally =ideographic=phonetic groups
    birth_date: dt.date
    sex: str  # M, F or O


def random_patient(
    rng: np.random.Generator, *, non_ascii: bool | None = False, id_prefix: str = "P"
) -> Patient:
    """A made-up patient. ``non_ascii=None`` draws a non-ASCII name one time in eight."""
    if non_ascii is None:
        non_ascii = bool(rng.random() < 0.125)
    if non_ascii:
        name = str(rng.choice(_NON_ASCII_NAMES))
    else:
        name = f"{rng.choice(_FAMILY)}^{rng.choice(_GIVEN)}"
    age_days = int(rng.integers(18 * 365, 92 * 365))
    birth = dt.date(2025, 1, 1) - dt.timedelta(days=age_days)
    return Patient(
        patient_id=f"{id_prefix}{int(rng.integers(10**6, 10**7))}",
        name=name,
        birth_date=birth,
        sex=str(rng.choice(["M", "F"])),
    )


@dataclass(frozen=True)
class Scanner:
    """One modality's identity and habits; vendors differ in how they store the same image."""

    modality: str
    manufacturer: str
    model: str
    station_name: str
    software_versions: str
    # CT: how HU are stored (signed or not, bits, intercept) and the two kernels (soft, bone).
    pixel_representation: int = 0
    bits_stored: int = 12
    rescale_intercept: float = -1024.0
    kernels: tuple[str, str] = ("STANDARD", "BONE")
    # CR/DX: the photometric interpretation the device writes by default.
    photometric: str = "MONOCHROME2"
    # MR: field strength in tesla.
    field_strength: float = 1.5


SCANNERS: dict[str, tuple[Scanner, ...]] = {
    "CT": (
        Scanner(
            "CT",
            "SIEMENS",
            "SOMATOM Definition AS+",
            "CTAWP73412",
            "syngo CT VA48A",
            kernels=("H30s", "H70h"),
        ),
        Scanner(
            "CT",
            "GE MEDICAL SYSTEMS",
            "Revolution EVO",
            "CT01OC0",
            "revo_ct_22ms.40",
            pixel_representation=1,
            bits_stored=16,
        ),
        Scanner("CT", "Philips", "Ingenuity CT", "PHILIPS-4T2K", "4.1.5", kernels=("UB", "YC")),
        Scanner(
            "CT",
            "CANON_MEDICAL_SYSTEMS",
            "Aquilion ONE",
            "ER_CT1",
            "V10.8",
            pixel_representation=1,
            bits_stored=16,
            rescale_intercept=0.0,
            kernels=("FC21", "FC30"),
        ),
    ),
    "CR": (
        Scanner(
            "CR",
            "FUJIFILM Corporation",
            "FCR CAPSULA XLII",
            "FCR01",
            "A10.2",
            photometric="MONOCHROME1",
        ),
        Scanner("CR", "Agfa", "CR 85-X", "ADC_5146", "NX 23.0"),
    ),
    "DX": (
        Scanner("DX", "Carestream Health", "DRX-Evolution", "DRXEVO-ER", "5.7.412"),
        Scanner("DX", "SIEMENS", "Ysio Max", "YSIO01", "VF10F"),
    ),
    "MR": (
        Scanner("MR", "SIEMENS", "MAGNETOM Skyra", "MRC25104", "syngo MR E11", field_strength=3.0),
        Scanner("MR", "GE MEDICAL SYSTEMS", "SIGNA Explorer", "GEMR15", "DV26.0_R03"),
        Scanner("MR", "Philips Medical Systems", "Ingenia", "PHILIPS-MR1", "5.6.1"),
    ),
}

_KIND_MODALITIES = {"head-ct": ("CT",), "chest-xr": ("CR", "DX"), "mr-brain": ("MR",)}
_STUDY_DESCRIPTIONS = {
    "head-ct": "CT HEAD WO CONTRAST",
    "chest-xr": "XR CHEST PA",
    "mr-brain": "MR BRAIN WO CONTRAST",
}
_PROCEDURES = {
    "head-ct": "CT head without contrast",
    "chest-xr": "Chest X-ray, PA view",
    "mr-brain": "MRI brain without contrast",
}
# What referrers write. Drawn independently of the ground truth so histories don't leak it.
_HISTORIES = {
    "head-ct": (
        "Fall from standing, on anticoagulants, GCS 14.",
        "Sudden severe headache, vomiting. Rule out haemorrhage.",
        "Confusion since this morning, hypertensive 210/110.",
        "Head strike in motor vehicle collision, brief loss of consciousness.",
        "New left-sided weakness, onset 2 hours ago.",
        "Elderly patient, found on floor, on warfarin, INR 3.4.",
    ),
    "chest-xr": (
        "Sudden dyspnoea after central line insertion.",
        "Pleuritic chest pain, tall young smoker.",
        "Post-op day 1 after lung biopsy, desaturating.",
        "Blunt chest trauma, reduced breath sounds on the right.",
        "Fever and productive cough for 3 days.",
        "Ventilated patient, rising airway pressures.",
    ),
    "mr-brain": (
        "Recurrent headaches, exclude structural cause.",
        "New seizure, adult onset.",
        "Progressive memory complaints.",
        "Follow-up of known lesion.",
    ),
}


def _charset_value(charset: str | Sequence[str] | None, name: str) -> list[str] | str | None:
    if charset is None:
        return None if name.isascii() else "ISO_IR 192"
    values = charset.split("\\") if isinstance(charset, str) else list(charset)
    if values and values[0] in _MULTIBYTE_2022:
        values = ["", *values]
    return values[0] if len(values) == 1 else values


@dataclass(frozen=True)
class StudyHeader:
    """Study-level values every series of one study shares, and the order behind it."""

    kind: str
    study_instance_uid: str
    accession_number: str
    study_id: str
    patient: Patient
    study_datetime: dt.datetime
    study_description: str
    requested_procedure: str
    referring_physician: str
    institution_name: str
    priority: str  # stat, urgent or routine
    clinical_history: str
    callback_phone: str
    specific_character_set: list[str] | str | None = None


def new_study_header(
    kind: str,
    *,
    rng: np.random.Generator,
    patient: Patient | None = None,
    accession_number: str | None = None,
    accession_prefix: str = "RGH",
    study_datetime: dt.datetime | None = None,
    institution_name: str = "Regional General Hospital",
    priority: str | None = None,
    clinical_history: str | None = None,
    charset: str | Sequence[str] | None = None,
) -> StudyHeader:
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}: one of {', '.join(KINDS)}")
    if priority is not None and priority not in PRIORITIES:
        raise ValueError(f"unknown priority {priority!r}: one of {', '.join(PRIORITIES)}")
    patient = patient or random_patient(rng, non_ascii=None)
    if accession_number is None:
        if len(accession_prefix) > 8:
            raise ValueError("accession_prefix is at most 8 characters (AccessionNumber is 16)")
        digits = min(16 - len(accession_prefix), 10)
        number = int(rng.integers(10 ** (digits - 1), 10**digits))
        accession_number = f"{accession_prefix}{number}"
    if len(accession_number) > 16:
        raise ValueError(f"AccessionNumber {accession_number!r} is longer than 16 characters")
    drawn_priority = str(rng.choice(PRIORITIES, p=[0.2, 0.3, 0.5]))
    drawn_history = str(rng.choice(_HISTORIES[kind]))
    return StudyHeader(
        kind=kind,
        study_instance_uid=_uid(rng),
        accession_number=accession_number,
        study_id=str(int(rng.integers(1, 99999))),
        patient=patient,
        study_datetime=(study_datetime or dt.datetime.now()).replace(microsecond=0),
        study_description=_STUDY_DESCRIPTIONS[kind],
        requested_procedure=_PROCEDURES[kind],
        referring_physician=str(rng.choice(_PHYSICIANS)),
        institution_name=institution_name,
        priority=priority or drawn_priority,
        clinical_history=clinical_history or drawn_history,
        callback_phone=f"+1-555-01{int(rng.integers(0, 100)):02d}",
        specific_character_set=_charset_value(charset, patient.name),
    )


def _pick_scanner(rng: np.random.Generator, kind: str, scanner: Scanner | None) -> Scanner:
    if scanner is not None:
        if scanner.modality not in _KIND_MODALITIES[kind]:
            raise ValueError(f"a {scanner.modality} scanner cannot make a {kind} study")
        return scanner
    choices = [s for m in _KIND_MODALITIES[kind] for s in SCANNERS[m]]
    return choices[int(rng.integers(len(choices)))]


# --------------------------------------------------------------------------------------------
# DICOM datasets


def _da(d: dt.date) -> str:
    return d.strftime("%Y%m%d")


def _tm(t: dt.datetime) -> str:
    return t.strftime("%H%M%S")


def _age(birth: dt.date, on: dt.date) -> str:
    years = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    return f"{max(years, 0):03d}Y"


@dataclass(frozen=True)
class _SeriesInfo:
    uid: str
    number: int
    description: str
    modality: str
    started: dt.datetime
    frame_of_reference: str
    body_part: str
    protocol: str


def _instance(
    rng: np.random.Generator,
    header: StudyHeader,
    scanner: Scanner,
    series: _SeriesInfo,
    sop_class: str,
    instance_number: int,
) -> Dataset:
    """The patient, study, series, equipment and SOP common parts of one instance."""
    sop_uid = _uid(rng)
    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "RC_HOSP_SIM"
    ds.file_meta = meta

    if header.specific_character_set is not None:
        ds.SpecificCharacterSet = header.specific_character_set
    created = series.started + dt.timedelta(seconds=instance_number)
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.InstanceCreationDate = _da(created)
    ds.InstanceCreationTime = _tm(created)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = _da(header.study_datetime)
    ds.SeriesDate = _da(series.started)
    ds.AcquisitionDate = _da(created)
    ds.ContentDate = _da(created)
    ds.StudyTime = _tm(header.study_datetime)
    ds.SeriesTime = _tm(series.started)
    ds.AcquisitionTime = _tm(created)
    ds.ContentTime = _tm(created)
    ds.AccessionNumber = header.accession_number
    ds.Modality = series.modality
    ds.Manufacturer = scanner.manufacturer
    ds.InstitutionName = header.institution_name
    ds.ReferringPhysicianName = header.referring_physician
    ds.StationName = scanner.station_name
    ds.StudyDescription = header.study_description
    ds.SeriesDescription = series.description
    ds.ManufacturerModelName = scanner.model
    ds.PatientName = header.patient.name
    ds.PatientID = header.patient.patient_id
    ds.PatientBirthDate = _da(header.patient.birth_date)
    ds.PatientSex = header.patient.sex
    ds.PatientAge = _age(header.patient.birth_date, header.study_datetime.date())
    ds.AdditionalPatientHistory = header.clinical_history
    ds.BodyPartExamined = series.body_part
    ds.SoftwareVersions = scanner.software_versions
    ds.ProtocolName = series.protocol
    ds.StudyInstanceUID = header.study_instance_uid
    ds.SeriesInstanceUID = series.uid
    ds.StudyID = header.study_id
    ds.SeriesNumber = series.number
    ds.AcquisitionNumber = 1
    ds.InstanceNumber = instance_number
    ds.RequestedProcedureDescription = header.requested_procedure
    ds.RequestedProcedurePriority = _DICOM_PRIORITY[header.priority]
    return ds


def _set_pixels(
    ds: Dataset, stored: np.ndarray, *, bits_stored: int, signed: bool, photometric: str
) -> None:
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = stored.shape
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    ds.PixelData = stored.astype("<i2" if signed else "<u2").tobytes()
    ds["PixelData"].VR = "OW"


def _finish(datasets: list[Dataset], compress: bool) -> list[Dataset]:
    if compress:
        for ds in datasets:
            # The pydicom encoder: RLE Lossless needs no extra package. Lossless, so the
            # instance keeps its UID.
            ds.compress(RLELossless, encoding_plugin="pydicom", generate_instance_uid=False)
    return datasets


def _hu_to_stored(hu: np.ndarray, scanner: Scanner) -> np.ndarray:
    # Quantise in HU first: every vendor then decodes to the same integers.
    stored = np.rint(hu).astype(np.float64) - scanner.rescale_intercept
    if scanner.pixel_representation:
        lo, hi = -(2 ** (scanner.bits_stored - 1)), 2 ** (scanner.bits_stored - 1) - 1
    else:
        lo, hi = 0, 2**scanner.bits_stored - 1
    return np.clip(stored, lo, hi)


def _ct_series(
    rng: np.random.Generator,
    header: StudyHeader,
    scanner: Scanner,
    hu: np.ndarray,
    geometry: _HeadAnatomy,
    *,
    number: int,
    bone: bool,
    frame_of_reference: str,
    started: dt.datetime,
) -> list[Dataset]:
    series = _SeriesInfo(
        uid=_uid(rng),
        number=number,
        description="HEAD BONE 5mm" if bone else "HEAD 5mm",
        modality="CT",
        started=started,
        frame_of_reference=frame_of_reference,
        body_part="HEAD",
        protocol="Routine Head",
    )
    slices, rows, cols = hu.shape
    spacing = geometry.pixel_spacing
    origin_x = -cols / 2.0 * spacing + spacing / 2.0
    origin_y = -rows / 2.0 * spacing + spacing / 2.0
    table_height = round(float(rng.uniform(140.0, 180.0)), 1)
    datasets = []
    for i in range(slices):
        ds = _instance(rng, header, scanner, series, CTImageStorage, i + 1)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.PatientPosition = "HFS"
        ds.ScanOptions = "HELICAL MODE"
        ds.SliceThickness = f"{geometry.slice_thickness:g}"
        ds.KVP = "120"
        ds.DataCollectionDiameter = "500"
        ds.ReconstructionDiameter = f"{_HEAD_FOV_MM:g}"
        ds.GantryDetectorTilt = "0"
        ds.TableHeight = f"{table_height:g}"
        ds.RotationDirection = "CW"
        ds.ExposureTime = "1000"
        ds.XRayTubeCurrent = 280
        ds.ConvolutionKernel = scanner.kernels[1 if bone else 0]
        ds.FrameOfReferenceUID = frame_of_reference
        ds.PositionReferenceIndicator = ""
        z = float(geometry.z_mm[i])
        ds.ImagePositionPatient = [f"{origin_x:.4f}", f"{origin_y:.4f}", f"{z:.4f}"]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.SliceLocation = f"{z:.4f}"
        ds.PixelSpacing = [f"{spacing:.6g}", f"{spacing:.6g}"]
        ds.RescaleIntercept = f"{scanner.rescale_intercept:g}"
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        ds.WindowCenter = "600" if bone else "40"
        ds.WindowWidth = "2800" if bone else "80"
        ds.WindowCenterWidthExplanation = "BONE" if bone else "BRAIN"
        _set_pixels(
            ds,
            _hu_to_stored(hu[i], scanner),
            bits_stored=scanner.bits_stored,
            signed=bool(scanner.pixel_representation),
            photometric="MONOCHROME2",
        )
        datasets.append(ds)
    return datasets


def _header_and_scanner(
    kind: str,
    rng: np.random.Generator,
    study: StudyHeader | None,
    patient: Patient | None,
    accession_number: str | None,
    scanner: Scanner | None,
) -> tuple[StudyHeader, Scanner]:
    if study is None:
        study = new_study_header(kind, rng=rng, patient=patient, accession_number=accession_number)
    return study, _pick_scanner(rng, kind, scanner)


def head_ct(
    *,
    rng: np.random.Generator,
    slices: int = 20,
    size: int = 256,
    bleed: bool = False,
    bleed_type: str | None = None,
    study: StudyHeader | None = None,
    patient: Patient | None = None,
    accession_number: str | None = None,
    scanner: Scanner | None = None,
    series_number: int = 1,
    appearance: Appearance | None = None,
    compress: bool = False,
) -> list[Dataset]:
    """One axial head CT series (one dataset per slice), with a bleed when ``bleed``."""
    study, scanner = _header_and_scanner("head-ct", rng, study, patient, accession_number, scanner)
    phantom = np.random.default_rng(rng.integers(2**63))
    volume, anat = _head_ct(phantom, slices, size, bleed, bleed_type, appearance)
    datasets = _ct_series(
        rng,
        study,
        scanner,
        volume.image,
        anat,
        number=series_number,
        bone=False,
        frame_of_reference=_uid(rng),
        started=study.study_datetime + dt.timedelta(minutes=2),
    )
    return _finish(datasets, compress)


def _chest_datasets(
    rng: np.random.Generator,
    header: StudyHeader,
    scanner: Scanner,
    image: np.ndarray,
    *,
    number: int,
    view: str,
    monochrome1: bool,
    started: dt.datetime,
) -> list[Dataset]:
    modality = scanner.modality
    series = _SeriesInfo(
        uid=_uid(rng),
        number=number,
        description=f"CHEST {view}",
        modality=modality,
        started=started,
        frame_of_reference=_uid(rng),
        body_part="CHEST",
        protocol=f"Chest {view}",
    )
    sop_class = (
        DigitalXRayImageStorageForPresentation
        if modality == "DX"
        else ComputedRadiographyImageStorage
    )
    ds = _instance(rng, header, scanner, series, sop_class, 1)
    n = image.shape[0]
    spacing = 430.0 / n  # a 43 cm detector
    ds.ViewPosition = view
    ds.PatientOrientation = ["L", "F"]
    ds.KVP = "120" if view == "PA" else "95"
    ds.DistanceSourceToDetector = "1800" if view == "PA" else "1000"
    ds.ExposureTime = "12"
    ds.XRayTubeCurrent = 320
    ds.Exposure = "4"
    ds.ImagerPixelSpacing = [f"{spacing:.6g}", f"{spacing:.6g}"]
    ds.PixelSpacing = [f"{spacing:.6g}", f"{spacing:.6g}"]
    stored = np.rint(150.0 + image * 3800.0)
    if monochrome1:
        stored = 4095.0 - stored
    lo, hi = np.percentile(stored, [1.0, 99.0])
    ds.WindowCenter = f"{(lo + hi) / 2:.0f}"
    ds.WindowWidth = f"{max(hi - lo, 1.0):.0f}"
    if modality == "DX":
        ds.ImageType = ["ORIGINAL", "PRIMARY", ""]
        ds.PresentationIntentType = "FOR PRESENTATION"
        ds.ImageLaterality = "U"
        ds.DetectorType = "SCINTILLATOR"
        ds.PixelIntensityRelationship = "LOG"
        # +1: lower values mean less X-ray intensity reached the detector (MONOCHROME1).
        ds.PixelIntensityRelationshipSign = 1 if monochrome1 else -1
        ds.RescaleIntercept = "0"
        ds.RescaleSlope = "1"
        ds.RescaleType = "US"
        ds.PresentationLUTShape = "INVERSE" if monochrome1 else "IDENTITY"
        ds.LossyImageCompression = "00"
        ds.BurnedInAnnotation = "NO"
        ds.AcquisitionContextSequence = DicomSequence([])
        region = Dataset()
        region.CodeValue = "51185008"
        region.CodingSchemeDesignator = "SCT"
        region.CodeMeaning = "Thorax"
        ds.AnatomicRegionSequence = DicomSequence([region])
        ds.PositionerType = "COLUMN"
        view_code = Dataset()
        view_code.CodeValue = "399348003" if view == "PA" else "399067008"
        view_code.CodingSchemeDesignator = "SCT"
        view_code.CodeMeaning = "postero-anterior" if view == "PA" else "antero-posterior"
        ds.ViewCodeSequence = DicomSequence([view_code])
    _set_pixels(
        ds,
        stored,
        bits_stored=12,
        signed=False,
        photometric="MONOCHROME1" if monochrome1 else "MONOCHROME2",
    )
    return [ds]


def chest_radiograph(
    *,
    rng: np.random.Generator,
    size: int = 512,
    pneumothorax: bool = False,
    monochrome1: bool | None = False,
    study: StudyHeader | None = None,
    patient: Patient | None = None,
    accession_number: str | None = None,
    scanner: Scanner | None = None,
    series_number: int = 1,
    appearance: Appearance | None = None,
    compress: bool = False,
) -> list[Dataset]:
    """A PA chest radiograph (one CR or DX instance, by the scanner drawn or given).

    ``monochrome1=None`` follows the scanner's habit (Fuji CR writes MONOCHROME1).
    """
    study, scanner = _header_and_scanner("chest-xr", rng, study, patient, accession_number, scanner)
    phantom = np.random.default_rng(rng.integers(2**63))
    image = chest_image(phantom, size=size, pneumothorax=pneumothorax, appearance=appearance).image
    mono1 = scanner.photometric == "MONOCHROME1" if monochrome1 is None else monochrome1
    datasets = _chest_datasets(
        rng,
        study,
        scanner,
        image,
        number=series_number,
        view="PA",
        monochrome1=mono1,
        started=study.study_datetime + dt.timedelta(minutes=1),
    )
    return _finish(datasets, compress)


# Per weighting: (series description, ScanningSequence, SequenceVariant, SequenceName, TR, TE, TI).
_MR_SEQUENCES = {
    "T1": ("T1 SE AX", "SE", ["SK", "SP"], "*se2d1", 550.0, 9.5, None),
    "T2": ("T2 TSE AX", "SE", ["SK", "SP", "OSP"], "*tse2d1_15", 4500.0, 96.0, None),
    "FLAIR": ("FLAIR AX", "IR", ["SK", "SP", "MP"], "*tir2d1_16", 9000.0, 85.0, 2500.0),
}


def _mr_series(
    rng: np.random.Generator,
    header: StudyHeader,
    scanner: Scanner,
    signal: np.ndarray,
    anat: _HeadAnatomy,
    *,
    weighting: str,
    number: int,
    frame_of_reference: str,
    started: dt.datetime,
    contrast: bool = False,
) -> list[Dataset]:
    desc, scanning, variant, seq_name, tr, te, ti = _MR_SEQUENCES[weighting]
    series = _SeriesInfo(
        uid=_uid(rng),
        number=number,
        description=desc + (" +C" if contrast else ""),
        modality="MR",
        started=started,
        frame_of_reference=frame_of_reference,
        body_part="HEAD",
        protocol="Brain Routine",
    )
    slices, rows, cols = signal.shape
    spacing = anat.pixel_spacing
    origin_x = -cols / 2.0 * spacing + spacing / 2.0
    origin_y = -rows / 2.0 * spacing + spacing / 2.0
    stored_all = np.clip(np.rint(signal * 2000.0), 0, 4095)
    hi = float(np.percentile(stored_all, 99.5))
    datasets = []
    for i in range(slices):
        ds = _instance(rng, header, scanner, series, MRImageStorage, i + 1)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
        ds.PatientPosition = "HFS"
        ds.ScanningSequence = scanning
        ds.SequenceVariant = variant
        ds.ScanOptions = "IR" if ti else ""
        ds.MRAcquisitionType = "2D"
        ds.SequenceName = seq_name
        ds.SliceThickness = f"{anat.slice_thickness:g}"
        ds.RepetitionTime = f"{tr:g}"
        ds.EchoTime = f"{te:g}"
        if ti:
            ds.InversionTime = f"{ti:g}"
        ds.NumberOfAverages = "1"
        ds.ImagingFrequency = f"{42.577478 * scanner.field_strength:.6f}"
        ds.ImagedNucleus = "1H"
        ds.EchoNumbers = "1"
        ds.MagneticFieldStrength = f"{scanner.field_strength:g}"
        ds.SpacingBetweenSlices = f"{anat.slice_thickness:g}"
        ds.EchoTrainLength = 15 if weighting != "T1" else 1
        ds.PixelBandwidth = "220"
        ds.FlipAngle = "150" if weighting != "T1" else "90"
        ds.PatientPosition = "HFS"
        if contrast:
            ds.ContrastBolusAgent = "Gadobutrol 1.0 mmol/mL"
            ds.ContrastBolusRoute = "IV"
        ds.FrameOfReferenceUID = frame_of_reference
        ds.PositionReferenceIndicator = ""
        z = float(anat.z_mm[i])
        ds.ImagePositionPatient = [f"{origin_x:.4f}", f"{origin_y:.4f}", f"{z:.4f}"]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.SliceLocation = f"{z:.4f}"
        ds.PixelSpacing = [f"{spacing:.6g}", f"{spacing:.6g}"]
        ds.WindowCenter = f"{hi / 2:.0f}"
        ds.WindowWidth = f"{hi:.0f}"
        _set_pixels(ds, stored_all[i], bits_stored=12, signed=False, photometric="MONOCHROME2")
        datasets.append(ds)
    return datasets


def _mr_datasets(
    rng: np.random.Generator,
    phantom: np.random.Generator,
    header: StudyHeader,
    scanner: Scanner,
    *,
    slices: int,
    size: int,
    sequences: Sequence[str],
    lesion: bool,
    first_series_number: int,
    appearance: Appearance | None,
) -> list[Dataset]:
    appearance = appearance or Appearance()
    anat, mask, level = _mr_phantom(phantom, slices, size, lesion, appearance)
    frame = _uid(rng)
    datasets: list[Dataset] = []
    for k, weighting in enumerate(sequences):
        signal = _mr_signal(phantom, anat, weighting, mask, appearance, level)
        datasets += _mr_series(
            rng,
            header,
            scanner,
            signal,
            anat,
            weighting=weighting,
            number=first_series_number + k,
            frame_of_reference=frame,
            started=header.study_datetime + dt.timedelta(minutes=3 + 4 * k),
        )
    return datasets


def mr_brain(
    *,
    rng: np.random.Generator,
    slices: int = 20,
    size: int = 256,
    sequences: Sequence[str] = ("T1", "T2", "FLAIR"),
    lesion: bool = False,
    study: StudyHeader | None = None,
    patient: Patient | None = None,
    accession_number: str | None = None,
    scanner: Scanner | None = None,
    first_series_number: int = 1,
    appearance: Appearance | None = None,
    compress: bool = False,
) -> list[Dataset]:
    """A routine MR brain: one axial series per weighting, sharing one frame of reference."""
    study, scanner = _header_and_scanner("mr-brain", rng, study, patient, accession_number, scanner)
    phantom = np.random.default_rng(rng.integers(2**63))
    datasets = _mr_datasets(
        rng,
        phantom,
        study,
        scanner,
        slices=slices,
        size=size,
        sequences=sequences,
        lesion=lesion,
        first_series_number=first_series_number,
        appearance=appearance,
    )
    return _finish(datasets, compress)


# --------------------------------------------------------------------------------------------
# Studies

_DEFAULT_SIZES = {"head-ct": 256, "chest-xr": 512, "mr-brain": 256}


@dataclass
class SyntheticStudy:
    """A whole study as a hospital sends it, with the ground truth the simulator knows."""

    kind: str
    header: StudyHeader
    scanner: Scanner
    finding: bool
    datasets: list[Dataset]
    slices: int
    size: int
    appearance: Appearance | None = None
    compress: bool = False
    # A late series must show the same patient: the same phantom seed replays the anatomy and
    # the finding; its own generator keeps add_series reproducible too.
    phantom_seed: int = field(repr=False, default=0)
    late_rng: np.random.Generator = field(repr=False, default_factory=np.random.default_rng)

    @property
    def study_instance_uid(self) -> str:
        return self.header.study_instance_uid

    @property
    def accession_number(self) -> str:
        return self.header.accession_number

    @property
    def patient_id(self) -> str:
        return self.header.patient.patient_id

    @property
    def patient_name(self) -> str:
        return self.header.patient.name

    @property
    def priority(self) -> str:
        return self.header.priority

    @property
    def clinical_history(self) -> str:
        return self.header.clinical_history

    @property
    def modality(self) -> str:
        return self.scanner.modality

    @property
    def series_instance_uids(self) -> list[str]:
        return list(dict.fromkeys(str(ds.SeriesInstanceUID) for ds in self.datasets))

    def summary(self) -> dict:
        """JSON-ready facts about the study, for scripts and benchmarks."""
        return {
            "kind": self.kind,
            "modality": self.modality,
            "study_instance_uid": self.study_instance_uid,
            "accession_number": self.accession_number,
            "patient_id": self.patient_id,
            "patient_name": self.patient_name,
            "finding": self.finding,
            "priority": self.priority,
            "series": len(self.series_instance_uids),
            "instances": len(self.datasets),
            "manufacturer": self.scanner.manufacturer,
        }

    def add_series(self, *, rng: np.random.Generator | None = None) -> list[Dataset]:
        """A series that arrives after the study looked complete, appended to ``datasets``.

        Head CT: a bone-kernel reconstruction; chest: an AP view; MR: T1 after contrast. Same
        anatomy and finding as the rest of the study.
        """
        rng = rng or self.late_rng
        number = max(int(ds.SeriesNumber) for ds in self.datasets) + 1
        last = max(
            dt.datetime.strptime(f"{ds.SeriesDate}{str(ds.SeriesTime)[:6]}", "%Y%m%d%H%M%S")
            for ds in self.datasets
        )
        started = last + dt.timedelta(minutes=10)
        phantom = np.random.default_rng(self.phantom_seed)
        frame = str(self.datasets[0].get("FrameOfReferenceUID", "")) or _uid(rng)
        if self.kind == "head-ct":
            volume, anat = _head_ct(
                phantom, self.slices, self.size, self.finding, None, self.appearance
            )
            # A sharper kernel: the same anatomy, more noise.
            hu = volume.image + _correlated_noise(rng, volume.image.shape, 12.0)
            new = _ct_series(
                rng,
                self.header,
                self.scanner,
                hu,
                anat,
                number=number,
                bone=True,
                frame_of_reference=frame,
                started=started,
            )
        elif self.kind == "chest-xr":
            image = chest_image(
                phantom, size=self.size, pneumothorax=self.finding, appearance=self.appearance
            ).image
            image = np.clip(image + rng.normal(0.0, 0.01, image.shape), 0.0, 1.0)
            new = _chest_datasets(
                rng,
                self.header,
                self.scanner,
                image,
                number=number,
                view="AP",
                monochrome1=self.datasets[0].PhotometricInterpretation == "MONOCHROME1",
                started=started,
            )
        else:
            appearance = self.appearance or Appearance()
            anat, mask, level = _mr_phantom(
                phantom, self.slices, self.size, self.finding, appearance
            )
            signal = _mr_signal(rng, anat, "T1", mask, appearance, level)
            new = _mr_series(
                rng,
                self.header,
                self.scanner,
                signal,
                anat,
                weighting="T1",
                number=number,
                frame_of_reference=frame,
                started=started,
                contrast=True,
            )
        new = _finish(new, self.compress)
        self.datasets.extend(new)
        return new


def make_study(
    kind: str,
    *,
    rng: np.random.Generator,
    finding: bool = False,
    accession_number: str | None = None,
    accession_prefix: str = "RGH",
    patient: Patient | None = None,
    study_datetime: dt.datetime | None = None,
    institution_name: str = "Regional General Hospital",
    priority: str | None = None,
    clinical_history: str | None = None,
    charset: str | Sequence[str] | None = None,
    scanner: Scanner | None = None,
    slices: int | None = None,
    size: int | None = None,
    monochrome1: bool | None = None,
    appearance: Appearance | None = None,
    compress: bool = False,
) -> SyntheticStudy:
    """A complete study of ``kind`` ("head-ct", "chest-xr", "mr-brain").

    ``finding`` is the ground truth: a bleed (head CT), a pneumothorax (chest) or a T2-bright
    lesion (MR). Order details (priority, history, referrer) are drawn unless given.
    ``monochrome1=None`` follows the scanner's habit.
    """
    header = new_study_header(
        kind,
        rng=rng,
        patient=patient,
        accession_number=accession_number,
        accession_prefix=accession_prefix,
        study_datetime=study_datetime,
        institution_name=institution_name,
        priority=priority,
        clinical_history=clinical_history,
        charset=charset,
    )
    scanner = _pick_scanner(rng, kind, scanner)
    phantom_seed = int(rng.integers(2**63))
    late_rng = np.random.default_rng(rng.integers(2**63))
    phantom = np.random.default_rng(phantom_seed)
    slices = slices or 20
    size = size or _DEFAULT_SIZES[kind]
    if kind == "head-ct":
        volume, anat = _head_ct(phantom, slices, size, finding, None, appearance)
        datasets = _ct_series(
            rng,
            header,
            scanner,
            volume.image,
            anat,
            number=1,
            bone=False,
            frame_of_reference=_uid(rng),
            started=header.study_datetime + dt.timedelta(minutes=2),
        )
    elif kind == "chest-xr":
        image = chest_image(phantom, size=size, pneumothorax=finding, appearance=appearance).image
        datasets = _chest_datasets(
            rng,
            header,
            scanner,
            image,
            number=1,
            view="PA",
            monochrome1=scanner.photometric == "MONOCHROME1"
            if monochrome1 is None
            else monochrome1,
            started=header.study_datetime + dt.timedelta(minutes=1),
        )
    else:
        datasets = _mr_datasets(
            rng,
            phantom,
            header,
            scanner,
            slices=slices,
            size=size,
            sequences=("T1", "T2", "FLAIR"),
            lesion=finding,
            first_series_number=1,
            appearance=appearance,
        )
    return SyntheticStudy(
        kind=kind,
        header=header,
        scanner=scanner,
        finding=finding,
        datasets=_finish(datasets, compress),
        slices=slices,
        size=size,
        appearance=appearance,
        compress=compress,
        phantom_seed=phantom_seed,
        late_rng=late_rng,
    )
