"""Head CT phantoms for training the bleed model, randomised wide on purpose. Numpy only.

The model is judged on head CTs drawn by other hands and scanned by other scanners than these,
so nothing here is a fixed look: every phantom draws its own head (a superellipsoid skull of
random size, shape, thickness and pose), its own brain (from flat "cartoon" tissue to grey and
white matter with gyri, sulci, cisterns and atrophy), its own confounders (hyperdense falx and
sinuses, calcified pineal and choroid plexus, a scalp haematoma, beam-hardening streaks,
cupping, motion) and its own scanner (matrix, field of view, slice count and thickness, noise
level and grain, an HU offset). A positive adds one or two acute bleeds of the five kinds a
radiologist names (epidural lens, subdural crescent, intraparenchymal clot with or without
oedema, subarachnoid blood in sulci and cisterns, intraventricular blood layering in the
occipital horns), from a fraction of a millilitre to tens of millilitres, at 45-92 HU.

Coordinates: the volume is (slices, rows, cols) with rows running anterior to posterior and
columns right to left, as DICOM axial images are displayed; the head has its own frame (u
lateral, v anterior-posterior, w up), rotated and shifted in the scanner's. Shapes are
evaluated in head coordinates; thick slices are the average of two sub-slices, so partial
volume along z is real.

This generator trains the models and nothing else: the validation families
(``triage.core.validation``) and the demo's simulator draw heads with code of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from triage.core.phantoms.fields import (
    box_blur,
    correlated_noise,
    log_uniform,
    rotation,
    smooth_field,
)

BLEED_KINDS = ("epidural", "subdural", "intraparenchymal", "subarachnoid", "intraventricular")
_KIND_WEIGHTS = np.array([0.17, 0.25, 0.24, 0.18, 0.16])
MATRICES = (128, 160, 192, 256)
_MATRIX_WEIGHTS = np.array([0.45, 0.2, 0.15, 0.2])


@dataclass
class HeadPhantom:
    hu: np.ndarray  # (slices, rows, cols) float32
    mask: np.ndarray  # bool, same shape: acute blood
    spacing_mm: tuple[float, float, float]
    info: dict = field(default_factory=dict)


@dataclass
class _Head:
    """The geometry every tissue is painted from, evaluated at one set of voxel centres."""

    u: np.ndarray
    v: np.ndarray
    w: np.ndarray
    depth: np.ndarray  # radial mm below the outer skull surface (negative outside the head)
    axes: tuple[float, float, float]
    skull: np.ndarray  # local skull thickness, mm
    floor: np.ndarray  # w of the skull base under each voxel's (u, v)
    brain: np.ndarray  # bool
    brain_depth: np.ndarray  # mm below the inner table (0 outside the brain)


# --------------------------------------------------------------------------------------------
# The scanner and the head's pose


def _scanner(rng: np.random.Generator) -> dict:
    matrix = int(rng.choice(MATRICES, p=_MATRIX_WEIGHTS / _MATRIX_WEIGHTS.sum()))
    return {
        "matrix": matrix,
        "fov_mm": float(rng.uniform(185.0, 300.0)),
        "slices": int(rng.integers(16, 65)),
        "noise_sd": log_uniform(rng, 1.5, 22.0),
        "grain": int(rng.choice([0, 1, 1, 2])),
        "hu_offset": float(np.clip(rng.normal(0.0, 4.0), -10.0, 10.0)),
        # The reconstruction's point spread, in mm: a pixel-sized box at a coarse matrix would
        # smear a thin subdural into the skull far more than any scanner does.
        "blur_mm": float(rng.uniform(0.0, 1.2)),
    }


def _anatomy_params(rng: np.random.Generator) -> dict:
    scale = rng.uniform(0.82, 1.12)
    detail = rng.uniform()  # 0: a cartoon of flat ellipsoids, 1: every structure below
    return {
        "axes": (
            rng.uniform(62.0, 80.0) * scale,
            rng.uniform(80.0, 100.0) * scale,
            rng.uniform(70.0, 88.0) * scale,
        ),
        "exponent": rng.uniform(1.9, 2.9),
        "pose": (rng.normal(0, 0.17), rng.normal(0, 0.15), rng.normal(0, 0.07)),
        "skull_mm": rng.uniform(3.0, 10.0),
        "scalp_mm": rng.uniform(1.5, 9.0),
        "detail": detail,
        "wm_hu": rng.uniform(22.0, 34.0),
        "gm_delta": rng.uniform(0.0, 14.0) if detail > 0.25 else 0.0,
        "csf_hu": rng.uniform(0.0, 15.0),
        # Basal ganglia and thalami: a little below grey matter, or a few HU above it (older
        # heads, mineralisation), a bright centre that must not read as a clot.
        "nuclei_delta": rng.uniform(-3.0, 9.0),
        "ventricle_scale": log_uniform(rng, 0.45, 2.3),
        "atrophy": rng.uniform(0.0, 1.0),
    }


def _grid(rng, scanner: dict, anatomy: dict, sub: float) -> tuple[np.ndarray, ...]:
    """Head coordinates (u, v, w) of every voxel, and the slice positions in the head frame."""
    m, fov = scanner["matrix"], scanner["fov_mm"]
    a, b, c = anatomy["axes"]
    ps = fov / m
    # Coverage from somewhere in the skull base to the vertex, as routine head CTs go; some
    # stop short of the vertex or start high.
    low = rng.uniform(-0.85, -0.35) * c
    high = rng.uniform(0.8, 1.12) * c
    dz = (high - low) / scanner["slices"]
    z = low + (np.arange(scanner["slices"]) + 0.5 + sub) * dz
    # Off centre, but the head stays mostly inside the field of view.
    room = max(0.0, fov / 2.0 - max(a, b) * 1.05)
    cx, cy = rng.uniform(-1, 1, size=2) * min(room, 0.18 * fov) + rng.normal(0, 3, size=2)
    x = (np.arange(m) - (m - 1) / 2.0) * ps - cx
    y = (np.arange(m) - (m - 1) / 2.0) * ps - cy
    return x.astype(np.float32), y.astype(np.float32), z.astype(np.float32), ps, dz


def _head_coordinates(rotation_matrix: np.ndarray, x, y, z) -> tuple[np.ndarray, ...]:
    r = rotation_matrix.T.astype(np.float32)
    zz, yy, xx = z[:, None, None], y[None, :, None], x[None, None, :]
    u = r[0, 0] * xx + r[0, 1] * yy + r[0, 2] * zz
    v = r[1, 0] * xx + r[1, 1] * yy + r[1, 2] * zz
    w = r[2, 0] * xx + r[2, 1] * yy + r[2, 2] * zz
    return u, v, w


def _head(rng, anatomy: dict, u, v, w, fields: dict) -> _Head:
    a, b, c = anatomy["axes"]
    p = anatomy["exponent"]
    radius = np.sqrt(u * u + v * v + w * w) + 1e-3
    # Superellipsoid norm, with a slow bumpy deformation: no two skulls are the same shape.
    rho = (np.abs(u / a) ** p + np.abs(v / b) ** p + np.abs(w / c) ** p) ** (1.0 / p)
    rho *= 1.0 + 0.025 * fields["shape"]
    depth = radius / rho - radius
    skull = anatomy["skull_mm"] * (1.0 + 0.25 * fields["skull"])
    # The skull base: the anterior fossa high, the posterior fossa deep, smoothly between.
    front, back = rng.uniform(-0.48, -0.28), rng.uniform(-0.9, -0.62)
    t = 1.0 / (1.0 + np.exp(-(v / b - 0.12) * 9.0))
    floor = c * (front + (back - front) * t)
    brain = (depth > skull) & (w > floor)
    brain_depth = np.where(brain, np.minimum(depth - skull, (w - floor) * 1.5), 0.0)
    return _Head(u, v, w, depth, (a, b, c), skull, floor, brain, brain_depth.astype(np.float32))


# --------------------------------------------------------------------------------------------
# Tissues


def _ellipsoid(h: _Head, centre, semi) -> np.ndarray:
    (cu, cv, cw), (su, sv, sw) = centre, semi
    return ((h.u - cu) / su) ** 2 + ((h.v - cv) / sv) ** 2 + ((h.w - cw) / sw) ** 2


def _ventricles(h: _Head, anatomy: dict, jitter: np.ndarray) -> np.ndarray:
    """Lateral ventricles (bodies, occipital and temporal horns), third and fourth ventricles."""
    a, b, c = h.axes
    k = anatomy["ventricle_scale"]
    s = a / 70.0
    inside = np.zeros(h.u.shape, bool)
    for side in (-1.0, 1.0):
        body = (side * (4.0 + 4.0 * k) * s, -0.05 * b + jitter[0], 0.2 * c)
        inside |= _ellipsoid(h, body, ((2.5 + 3.5 * k) * s, 0.3 * b, (4.0 + 5.0 * k) * s)) <= 1
        horn = (side * (9.0 + 4.0 * k) * s, 0.3 * b, 0.06 * c)
        inside |= _ellipsoid(h, horn, ((2.0 + 3.0 * k) * s, 0.14 * b, (3.0 + 3.0 * k) * s)) <= 1
        temporal = (side * 0.33 * a, -0.05 * b, -0.15 * c)
        inside |= _ellipsoid(h, temporal, ((1.0 + 1.5 * k) * s, 0.16 * b, (1.0 + 1.5 * k) * s)) <= 1
    inside |= _ellipsoid(h, (0.0, 0.0, 0.02 * c), ((0.8 + 1.2 * k) * s, 0.15 * b, 0.1 * c)) <= 1
    inside |= _ellipsoid(h, (0.0, 0.38 * b, -0.5 * c), (4.0 * s, 3.0 * s, 5.0 * s)) <= 1
    return inside & h.brain & (h.brain_depth > 4.0)


def _paint_brain(rng, h: _Head, anatomy: dict, fields: dict) -> tuple[np.ndarray, dict]:
    """Brain HU and the label maps lesions are placed from (csf, sulci, ventricles)."""
    detail = anatomy["detail"]
    wm, gm = anatomy["wm_hu"], anatomy["wm_hu"] + anatomy["gm_delta"]
    hu = np.full(h.u.shape, wm, np.float32)
    cortex = h.brain_depth < (2.5 + 1.5 * np.clip(fields["gyri"] + 1.0, 0.0, 3.0))
    hu[cortex] = gm
    # Deep grey nuclei.
    a, b, c = h.axes
    for side in (-1.0, 1.0):
        nuclei = _ellipsoid(
            h, (side * 0.27 * a, -0.02 * b, 0.02 * c), (0.12 * a, 0.2 * b, 0.14 * c)
        )
        hu[(nuclei <= 1) & h.brain] = gm + anatomy["nuclei_delta"]
    if detail > 0.3:
        hu += (rng.uniform(0.5, 3.0) * fields["texture"]).astype(np.float32)
    csf = np.zeros(h.u.shape, bool)
    sulci = np.zeros(h.u.shape, bool)
    rim = rng.uniform(0.4, 1.5) + 2.0 * anatomy["atrophy"]
    csf |= h.brain & (h.brain_depth < rim)
    if detail > 0.2:
        width = 0.03 + 0.14 * anatomy["atrophy"]
        sulci = h.brain & (h.brain_depth < 6.0 + 10.0 * detail) & (np.abs(fields["sulci"]) < width)
        csf |= sulci
    fissure = h.brain & (np.abs(h.u) < 0.6 + 1.6 * anatomy["atrophy"]) & (h.v < 0.45 * b)
    fissure &= h.brain_depth < 25.0 + 15.0 * detail
    csf |= fissure
    if detail > 0.4:
        # Sylvian fissures and the suprasellar cistern: where subarachnoid blood collects.
        for side in (-1.0, 1.0):
            sylvian = _ellipsoid(
                h, (side * 0.62 * a, -0.12 * b, -0.1 * c), (0.05 * a, 0.3 * b, 0.1 * c)
            )
            csf |= (sylvian <= 1) & h.brain
        cistern = _ellipsoid(
            h, (0.0, -0.05 * b, h.floor.mean() + 0.12 * c), (0.15 * a, 0.1 * b, 0.06 * c)
        )
        csf |= (cistern <= 1) & h.brain
    ventricles = _ventricles(h, anatomy, rng.normal(0, 2.0, size=3))
    csf |= ventricles
    hu[csf] = anatomy["csf_hu"] + rng.normal(0.0, 0.8)
    return hu, {"csf": csf, "sulci": sulci, "ventricles": ventricles, "fissure": fissure}


def _paint_confounders(rng, h: _Head, hu: np.ndarray, labels: dict, anatomy: dict) -> list[str]:
    """Normal dense things that are not blood (falx, sinuses, calcifications), in both classes."""
    a, b, c = h.axes
    drawn = []
    brain_hu = anatomy["wm_hu"]
    if rng.uniform() < 0.55:
        falx = labels["fissure"] & (np.abs(h.u) < rng.uniform(0.4, 1.0))
        hu[falx] = brain_hu + rng.uniform(10.0, 45.0)
        drawn.append("dense falx")
    if rng.uniform() < 0.5:
        # Superior sagittal sinus at the back of the vertex, transverse sinuses low behind.
        sinus = (np.abs(h.u) < rng.uniform(2.0, 4.5)) & (h.v > 0.3 * b)
        sinus &= (h.brain_depth < rng.uniform(2.0, 5.0)) & h.brain
        low = (h.w < h.floor + 0.25 * c) & (h.v > 0.55 * b) & (h.brain_depth < 5.0) & h.brain
        hu[sinus | low] = rng.uniform(45.0, 72.0)
        drawn.append("dense venous sinuses")
    calcs = (
        ("pineal", (0.0, 0.18 * b, 0.0), 0.7),
        ("choroid", (0.18 * a, 0.3 * b, 0.08 * c), 0.55),
        ("habenular", (0.0, 0.12 * b, 0.03 * c), 0.2),
    )
    for name, (cu, cv, cw), chance in calcs:
        if rng.uniform() < chance:
            r = rng.uniform(1.5, 4.5)
            for side in (-1.0, 1.0) if name == "choroid" else (1.0,):
                spot = _ellipsoid(h, (side * cu, cv, cw), (r, r, r)) <= 1
                hu[spot] = rng.uniform(70.0, 700.0)
            drawn.append(f"calcified {name}")
    if rng.uniform() < 0.1:
        for side in (-1.0, 1.0):
            spot = _ellipsoid(h, (side * 0.27 * a, -0.05 * b, 0.0), (3.0, 5.0, 3.0)) <= 1
            hu[spot & h.brain] = rng.uniform(60.0, 300.0)
        drawn.append("basal ganglia calcification")
    return drawn


def _paint_shell(
    rng, h: _Head, hu: np.ndarray, anatomy: dict, fields: dict, blood: np.ndarray
) -> None:
    """Scalp, skull (tables and diploe), skull base, air sinuses and orbits."""
    a, b, c = h.axes
    outside = h.depth <= -anatomy["scalp_mm"]
    scalp = (h.depth > -anatomy["scalp_mm"]) & (h.depth <= 0)
    bone = (h.depth > 0) & (h.depth <= h.skull)
    base = (h.depth > h.skull) & (h.w <= h.floor)
    cortical = rng.uniform(1000.0, 2000.0)
    hu[scalp] = rng.uniform(5.0, 55.0)
    if rng.uniform() < 0.4:
        hu[scalp & (h.depth < -0.5 * anatomy["scalp_mm"])] = rng.uniform(-110.0, -40.0)
    hu[bone] = cortical
    if rng.uniform() < 0.7:
        diploe = bone & (h.depth > 0.3 * h.skull) & (h.depth < 0.72 * h.skull)
        hu[diploe] = rng.uniform(350.0, 1100.0) + 80.0 * fields["skull"][diploe]
    # Below the floor: a slab of skull base over soft tissue with air cells and orbits.
    hu[base] = rng.uniform(15.0, 50.0)
    hu[base & (h.w > h.floor - rng.uniform(4.0, 10.0))] = cortical * rng.uniform(0.7, 1.0)
    if rng.uniform() < 0.7:
        for side in (-1.0, 1.0):
            petrous = _ellipsoid(
                h, (side * 0.45 * a, 0.15 * b, h.floor.min() * 0.6), (0.2 * a, 0.08 * b, 0.06 * c)
            )
            hu[(petrous <= 1) & (h.depth > 0) & ~h.brain] = cortical
            mastoid = _ellipsoid(
                h, (side * 0.6 * a, 0.35 * b, h.floor.min() * 0.75), (0.1 * a, 0.07 * b, 0.08 * c)
            )
            hu[(mastoid <= 1) & (h.depth > 0) & ~h.brain] = -900.0
    if rng.uniform() < 0.6:
        # Sphenoid wings, clinoids, petrous ridges: thin plates of bone that a thick slice cuts
        # obliquely, leaving bands of 100-400 HU that partial volume makes look like blood.
        for _ in range(int(rng.integers(1, 4))):
            normal = rng.normal(size=3)
            normal /= np.linalg.norm(normal)
            centre = np.array([rng.uniform(-0.5, 0.5) * a, rng.uniform(-0.5, 0.4) * b, 0.0])
            centre[2] = h.floor.mean() + rng.uniform(0.0, 0.2) * c
            offset = (h.u - centre[0]) * normal[0] + (h.v - centre[1]) * normal[1]
            offset += (h.w - centre[2]) * normal[2]
            near = _ellipsoid(h, tuple(centre), (0.35 * a, 0.3 * b, 0.15 * c)) <= 1
            plate = near & (np.abs(offset) < rng.uniform(1.0, 2.5)) & (h.depth > 0) & ~blood
            hu[plate] = cortical * rng.uniform(0.6, 1.0)
    if rng.uniform() < 0.7:
        sinus = _ellipsoid(
            h, (0.0, -0.55 * b, h.floor.max() - 0.2 * c), (0.18 * a, 0.12 * b, 0.1 * c)
        )
        hu[(sinus <= 1) & base] = -950.0
        for side in (-1.0, 1.0):
            eye = _ellipsoid(
                h, (side * 0.42 * a, -0.85 * b, h.floor.max() - 0.12 * c), (12.0, 12.0, 12.0)
            )
            hu[(eye <= 1) & (h.depth > -anatomy["scalp_mm"]) & ~h.brain] = rng.uniform(5.0, 18.0)
    hu[outside] = -1000.0


def _scalp_haematoma(rng, h: _Head, hu: np.ndarray, anatomy: dict) -> bool:
    """A soft swelling outside the skull: dense, but extracranial, so not a bleed to flag."""
    if rng.uniform() >= 0.12:
        return False
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    a, b, c = h.axes
    centre = direction * np.array([a, b, c]) * 1.05
    r = rng.uniform(15.0, 35.0)
    lump = _ellipsoid(h, centre, (r, r, r)) <= 1
    hu[lump & (h.depth <= 0) & (h.depth > -anatomy["scalp_mm"] - rng.uniform(5.0, 15.0))] = (
        rng.uniform(40.0, 75.0)
    )
    return True


# --------------------------------------------------------------------------------------------
# Bleeds


def _surface_direction(rng, h: _Head) -> np.ndarray:
    """A random direction to a point of the convexity above the skull base."""
    while True:
        d = rng.normal(size=3)
        d[2] = abs(d[2]) * 0.8 - 0.1
        d /= np.linalg.norm(d)
        if d[2] > -0.25:
            return d


def _angle_to(h: _Head, d: np.ndarray) -> np.ndarray:
    radius = np.sqrt(h.u**2 + h.v**2 + h.w**2) + 1e-3
    cosine = (h.u * d[0] + h.v * d[1] + h.w * d[2]) / radius
    return np.arccos(np.clip(cosine, -1.0, 1.0))


def _epidural(rng, h: _Head, fields: dict) -> np.ndarray:
    d = _surface_direction(rng, h)
    angle = _angle_to(h, d)
    span = rng.uniform(0.18, 0.5)  # radians of convexity it covers
    thickness = rng.uniform(3.0, 26.0)
    # A biconvex lens: thickest at its centre, zero at its rim.
    profile = thickness * np.clip(1.0 - (angle / span) ** 2, 0.0, None)
    return h.brain & (h.brain_depth < profile)


def _subdural(rng, h: _Head, fields: dict) -> np.ndarray:
    d = _surface_direction(rng, h)
    d[0] = np.sign(d[0] or 1.0) * max(abs(d[0]), 0.5)
    d /= np.linalg.norm(d)
    angle = _angle_to(h, d)
    span = rng.uniform(0.45, 1.3)
    thickness = log_uniform(rng, 2.5, 20.0)
    # A crescent: nearly even thickness over a wide arc, tapering only at its ends.
    profile = thickness * np.clip(1.0 - (angle / span) ** 6, 0.0, None)
    return h.brain & (h.brain_depth < profile * (1.0 + 0.15 * fields["texture"]))


def _intraparenchymal(rng, h: _Head, fields: dict) -> np.ndarray:
    a, b, c = h.axes
    volume_ml = log_uniform(rng, 0.4, 70.0)
    r = (3.0 * volume_ml * 1000.0 / (4.0 * np.pi)) ** (1.0 / 3.0)
    for _ in range(30):
        centre = rng.uniform(-1, 1, size=3) * np.array([0.55 * a, 0.6 * b, 0.35 * c])
        centre[2] += 0.15 * c
        if (centre[0] / a) ** 2 + (centre[1] / b) ** 2 + (centre[2] / c) ** 2 < 0.35:
            break
    stretch = rng.uniform(0.65, 1.35, size=3)
    stretch /= np.prod(stretch) ** (1.0 / 3.0)
    distance = np.sqrt(_ellipsoid(h, centre, r * stretch))
    return h.brain & (distance < 1.0 + 0.2 * fields["texture"])


def _subarachnoid(rng, h: _Head, labels: dict, fields: dict) -> np.ndarray:
    a, b, c = h.axes
    if rng.uniform() < 0.5:
        centre = np.array(
            [rng.uniform(-0.7, 0.7) * a, rng.uniform(-0.3, 0.2) * b, h.floor.mean() + 0.15 * c]
        )
    else:
        centre = _surface_direction(rng, h) * np.array([a, b, c]) * 0.85
    r = rng.uniform(14.0, 50.0)
    region = _ellipsoid(h, centre, (r, r, r * 0.8)) <= 1
    # Blood fills the CSF spaces it reaches; where the drawing has no sulci, it draws its own.
    own = (np.abs(fields["sulci2"]) < rng.uniform(0.05, 0.12)) & (h.brain_depth < 12.0)
    spaces = (labels["csf"] & ~labels["ventricles"]) | own
    return region & spaces & h.brain


def _intraventricular(rng, h: _Head, labels: dict) -> np.ndarray:
    ventricles = labels["ventricles"]
    if not ventricles.any():
        return ventricles
    v = h.v[ventricles]
    # Supine: blood layers in the most posterior (dependent) part, up to a level.
    level = np.quantile(v, rng.uniform(0.35, 0.92))
    out = ventricles & (h.v >= level)
    if rng.uniform() < 0.3:
        out = ventricles.copy()  # a cast filling the ventricle
    return out


def _bleed(rng, h: _Head, labels: dict, fields: dict, kind: str) -> np.ndarray:
    if kind == "epidural":
        return _epidural(rng, h, fields)
    if kind == "subdural":
        return _subdural(rng, h, fields)
    if kind == "intraparenchymal":
        return _intraparenchymal(rng, h, fields)
    if kind == "subarachnoid":
        return _subarachnoid(rng, h, labels, fields)
    return _intraventricular(rng, h, labels)


def _blood_hu(rng, kind: str) -> float:
    if kind in ("subarachnoid", "intraventricular"):
        return rng.uniform(50.0, 85.0)  # mixed with CSF, so the low end of acute blood
    return rng.uniform(50.0, 92.0)


def _paint_bleeds(rng, h: _Head, hu: np.ndarray, labels: dict, fields: dict, kinds) -> np.ndarray:
    mask = np.zeros(hu.shape, bool)
    for kind in kinds:
        lesion = _bleed(rng, h, labels, fields, kind)
        if kind == "intraparenchymal" and rng.uniform() < 0.5:
            # Oedema: a darker rim around the clot.
            grown = box_blur(lesion.astype(np.float32), int(rng.integers(1, 4))) > 0.02
            rim = grown & ~lesion & h.brain & ~labels["csf"]
            hu[rim] -= rng.uniform(4.0, 12.0)
        blood = _blood_hu(rng, kind) + 2.5 * fields["texture"][lesion]
        if kind in ("subdural", "epidural") and rng.uniform() < 0.2:
            # Hyperacute: unclotted swirls of lower density inside.
            swirl = fields["sulci"][lesion] > 0.6
            blood = np.where(swirl, blood - rng.uniform(12.0, 25.0), blood)
        hu[lesion] = blood
        mask |= lesion
    return mask


# --------------------------------------------------------------------------------------------
# The scanner's marks


def _artefacts(rng, hu: np.ndarray, h: _Head, scanner: dict, ps: float) -> list[str]:
    drawn = []
    n, m, _ = hu.shape
    if rng.uniform() < 0.35:
        # Streaks between the petrous bones (beam hardening) in the low slices.
        low = np.flatnonzero(h.w.mean(axis=(1, 2)) < h.floor.mean() + 0.25 * h.axes[2])
        rows = np.arange(m)[:, None]
        cols = np.arange(m)[None, :]
        for k in low:
            for _ in range(int(rng.integers(1, 4))):
                angle = rng.uniform(-0.6, 0.6)
                r0 = rng.uniform(0.35, 0.75) * m
                band = np.abs(
                    (rows - r0) * np.cos(angle) - (cols - m / 2) * np.sin(angle)
                ) < rng.uniform(0.6, 2.0)
                hu[k][band & (hu[k] > -200) & (hu[k] < 200)] -= rng.uniform(10.0, 45.0)
        drawn.append("beam hardening")
    if rng.uniform() < 0.3:
        radius = np.sqrt(h.u**2 + h.v**2) / max(h.axes[:2])
        hu += (rng.uniform(-8.0, 8.0) * (1.0 - np.clip(radius, 0, 1) ** 2) * (hu > -200)).astype(
            np.float32
        )
        drawn.append("cupping")
    if rng.uniform() < 0.12:
        k = rng.integers(0, n, size=max(1, n // 6))
        shift = int(rng.integers(1, 4))
        hu[k] = 0.75 * hu[k] + 0.25 * np.roll(hu[k], shift, axis=int(rng.integers(1, 3)))
        drawn.append("motion")
    return drawn


# --------------------------------------------------------------------------------------------
# One phantom


def _fields(rng, shape, ps: float, dz: float) -> dict:
    def cells(mm_in_plane: float, mm_z: float) -> tuple[float, float, float]:
        return (max(mm_z / dz, 1.0), mm_in_plane / ps, mm_in_plane / ps)

    return {
        "shape": smooth_field(rng, shape, cells(70.0, 70.0)),
        "skull": smooth_field(rng, shape, cells(40.0, 40.0)),
        "gyri": smooth_field(rng, shape, cells(14.0, 14.0)),
        "sulci": smooth_field(rng, shape, cells(rng.uniform(12.0, 24.0), 20.0)),
        "sulci2": smooth_field(rng, shape, cells(14.0, 16.0)),
        "texture": smooth_field(rng, shape, cells(5.0, 6.0)),
    }


def _draw_once(rng, scanner, anatomy, kinds, sub: float) -> tuple[np.ndarray, np.ndarray, dict]:
    # Every sub-slice draws the same head: a generator seeded alike for each.
    x, y, z, ps, dz = _grid(rng, scanner, anatomy, sub)
    u, v, w = _head_coordinates(rotation(*anatomy["pose"]), x, y, z)
    fields = _fields(rng, u.shape, ps, dz)
    h = _head(rng, anatomy, u, v, w, fields)
    hu, labels = _paint_brain(rng, h, anatomy, fields)
    confounders = _paint_confounders(rng, h, hu, labels, anatomy)
    mask = _paint_bleeds(rng, h, hu, labels, fields, kinds)
    _paint_shell(rng, h, hu, anatomy, fields, mask)
    haematoma = _scalp_haematoma(rng, h, hu, anatomy)
    return (
        hu,
        mask,
        {"ps": ps, "dz": dz, "h": h, "confounders": confounders, "scalp_haematoma": haematoma},
    )


# A positive whose bleed fell outside the slices drawn (or came out smaller than this) is drawn
# again: a label must be true of the images.
MIN_BLEED_ML = 0.15


def head_ct_phantom(rng: np.random.Generator, *, positive: bool) -> HeadPhantom:
    """One randomised head CT in HU (slices, rows, cols) and its acute-blood mask."""
    while True:
        phantom = _head_ct_phantom(rng, positive=positive)
        if not positive or phantom.info["volume_ml"] >= MIN_BLEED_ML:
            return phantom


def _head_ct_phantom(rng: np.random.Generator, *, positive: bool) -> HeadPhantom:
    scanner = _scanner(rng)
    anatomy = _anatomy_params(rng)
    kinds: list[str] = []
    if positive:
        p = _KIND_WEIGHTS / _KIND_WEIGHTS.sum()
        kinds = [str(rng.choice(BLEED_KINDS, p=p))]
        if rng.uniform() < 0.15:
            kinds.append(str(rng.choice(BLEED_KINDS, p=p)))
    draw_seed = int(rng.integers(2**62))
    # Thick slices average what they cut through (partial volume: the vertex cut tangentially,
    # the skull base's plates): drawn as the mean of sub-slices across the slice.
    thickness = (anatomy["axes"][2] * 1.9) / scanner["slices"]
    subs = (
        (0.0,) if thickness <= 3.0 else (-0.25, 0.25) if thickness <= 5.0 else (-1 / 3, 0.0, 1 / 3)
    )
    hu = mask = None
    for sub in subs:
        part, part_mask, info = _draw_once(
            np.random.default_rng(draw_seed), scanner, anatomy, kinds, sub
        )
        hu = part / len(subs) if hu is None else hu + part / len(subs)
        mask = part_mask if mask is None else (mask | part_mask)
    h = info["h"]
    artefacts = _artefacts(rng, hu, h, scanner, info["ps"])
    hu = box_blur(hu, int(scanner["blur_mm"] / info["ps"] + 0.5) // 2)
    hu += correlated_noise(rng, hu.shape, scanner["noise_sd"], scanner["grain"])
    hu += np.float32(scanner["hu_offset"])
    np.clip(hu, -1024.0, 3071.0, out=hu)
    voxel_ml = info["ps"] * info["ps"] * info["dz"] / 1000.0
    return HeadPhantom(
        hu=hu.astype(np.float32),
        mask=mask,
        spacing_mm=(info["dz"], info["ps"], info["ps"]),
        info={
            "kinds": kinds,
            "volume_ml": round(float(mask.sum()) * voxel_ml, 2),
            "scanner": scanner,
            "detail": round(anatomy["detail"], 2),
            "confounders": info["confounders"] + artefacts,
            "scalp_haematoma": info["scalp_haematoma"],
        },
    )
