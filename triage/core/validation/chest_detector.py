"""Chest radiograph family "detector": a projection through tissue and bone, then a detector.

How it draws. Thicknesses along the beam (mm of soft tissue and of bone) are summed over a
torso with neck and shoulders, lungs (air replacing tissue, deeper toward the bases), the heart
and mediastinum (where the lungs are not), vertebrae, posterior and anterior ribs with cortical
edges, clavicles, in some films the scapulae's medial borders over the lungs, breast shadows,
a skin fold, a chest tube, an L/R lead marker. Vessel markings are branching trees grown from
each hilum that thin out and stop short of the pleura. Then the physics: transmission
exp(-attenuation), scatter (a wide blur of the transmitted field), quantum noise that grows in
dense regions, the log, collimation (unexposed borders), and a vendor's processing: unsharp
masking (edge enhancement) and a tone curve; stored as CR (MONOCHROME1, 10 bits) or DX
(MONOCHROME2, 14 or 12 bits), with or without a header window.

Parameter ranges (uniform unless said):

- CR 35 x 43 cm (45 %) or DX 43 x 43 cm; delivered 1024-1280 rows (pixel 0.34-0.42 mm) as
  binned from the detector's native 0.14-0.2 mm matrix (2150-3070 rows, in ``parameters``)
- PA (75 %) or AP (heart 15 % wider, scapulae always over the lungs); chest half-width the
  lateral lung wall + 25-45 mm, depth 180-240 mm; lung apex 40-80 mm below the film's top,
  lateral wall 105-135 mm from the midline; the left dome 150-230 mm below the apex, the right
  8-25 mm higher, each falling 25-45 mm to its costophrenic angle; cardiothoracic ratio
  0.38-0.52, the heart tilted 25-45 degrees; lung depth 120-160 mm at the base (60 % at the
  apex); lung tissue density 0.12-0.30 of water; 6-8 vessel trunks per hilum, 3.5-5.5 mm,
  thinning 6 % every 5 mm, branching with probability 0.22 per step
- bone: vertebrae, ribs 8-12 mm wide, clavicles 14-18 mm; breast shadows 45 % (15-40 mm);
  scapular borders over the lungs 40 % (PA); skin fold 15 %; chest tube 12 % (negatives and
  positives alike); lead L or R marker always
- exposure: attenuation 0.019-0.024 /mm tissue, 2.2-2.8x for bone; scatter 10-50 % of what
  the body transmits, blurred over 5 cm; 15000-90000 photons per unattenuated pixel; unsharp
  masking 0.8-2.0 over 2-6 mm; tone curve a sigmoid (gain 2-3.5) or a power (0.6-1.1), mapped
  from reference attenuations (mid-lung, heart) computed from the anatomy, not the image;
  collimation margins 0-35 mm
- storage: CR MONOCHROME1 10 bits, window in 40 %; DX MONOCHROME2 14 bits (75 %) or 12,
  window in 85 %, rescale elements in half

Positives (left or right, 50/50): the lung collapses toward its hilum, its markings with it
(compressed, denser); between it and the chest wall the pleural space holds only air, so the
region is more lucent than lung and has no markings; the visceral pleura is a thin white line
at the collapsed lung's edge. Patterns: apical (35 %, the apex drops 10-40 mm), lateral (35 %,
the lateral edge moves in 8-35 mm), large (30 %, the lung shrinks to 35-70 % of its size,
less at its base). The pleural line is 2-5 mm of tissue seen edge-on.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from triage.core.validation.series import (
    Drawn,
    RadiographStyle,
    StudyStyle,
    choose,
    radiograph,
    study_header,
)

# One paragraph for the model cards: how this family draws, with its ranges.
DESCRIPTION = (
    "PA or AP chest projected through tissue and bone onto a detector: torso with neck and "
    "shoulders, lungs with branching vessel trees that fade toward the pleura, heart and "
    "mediastinum, vertebrae, posterior and anterior ribs, clavicles, scapular borders, breast "
    "shadows (45 %), skin folds (15 %) and chest tubes (12 %) as confounders, a lead L/R "
    "marker; transmission, scatter (10-50 %), quantum noise (15000-90000 photons), "
    "collimation, unsharp masking and a sigmoid or power tone curve; CR MONOCHROME1 10-bit or "
    "DX MONOCHROME2 14/12-bit, 1024-1280 rows (binned from a 0.14-0.2 mm detector), windows "
    "in 40-85 %. Positives: the lung collapses toward its hilum with its markings (apical "
    "10-40 mm, lateral 8-35 mm, or large to 35-70 %), leaving pleural air without markings "
    "and a thin visceral pleural line."
)

STYLE = StudyStyle(
    modality="CR",
    body_part="CHEST",
    descriptions=("XR CHEST PA", "CHEST 1 VIEW", "CHEST AP PORTABLE", "THORAX"),
    bare_descriptions=("CHEST PA", "XR CHEST PORTABLE", "CHEST AP"),
    series_descriptions=("PA", "AP", "CHEST", "Thorax PA"),
    manufacturers=(
        ("FUJIFILM Corporation", "FCR PROFECT"),
        ("Agfa", "CR 85-X"),
        ("Philips Medical Systems", "DigitalDiagnost"),
        ("Canon Inc.", "CXDI"),
    ),
)

_GLYPHS = {
    "L": ["10000", "10000", "10000", "10000", "10000", "10000", "11111"],
    "R": ["11110", "10001", "10001", "11110", "10100", "10010", "10001"],
}


# --------------------------------------------------------------------------------------------
# The patient


@dataclass
class Lung:
    """One lung (mm, image axes: x right = the patient's left, y down). Its outline: an
    ellipse for the apex and lateral wall (a straight wall below its centre), the diaphragm's
    dome from below (a parabola: the costophrenic angle is where it meets the wall) and, on the
    inside, the mediastinum or the heart, whichever reaches further out."""

    side: str
    outward: float  # -1: the patient's right (image left); +1: the left
    centre: tuple[float, float]
    axes: tuple[float, float]
    dome: tuple[float, float, float]  # x of its top, y of its top, curvature
    medial: float
    heart: tuple[float, float, float, float, float]  # centre x, y, half-axes, tilt (rad)
    depth: float  # along the beam, at the base
    apex: float
    base: float
    hilum: tuple[float, float]

    def _gaps(self, x, y):
        cx, cy = self.centre
        a, b = self.axes
        below = np.maximum(y - np.float32(cy), np.float32(0))
        dy = np.minimum(y - np.float32(cy), np.float32(0))  # below the centre: the wall
        widening = 1 + np.float32(0.08 / b) * below  # the chest widens toward the base
        q = ((x - np.float32(cx)) / (a * widening)) ** 2 + (dy / b) ** 2
        xt, yt, k = self.dome
        above = yt + k * (x - np.float32(xt)) ** 2 - y
        reach = _heart_reach(self.heart, y, self.outward)
        inside = self.outward * x - np.maximum(np.float32(self.medial), reach)
        return q, above, inside

    def rho(self, x, y):
        """How near the outline: < 1 inside, reaching 1 at the pleura."""
        q, above, inside = self._gaps(x, y)
        return np.maximum(np.sqrt(q), np.maximum(1 - above / 25, 1 - inside / 15))

    def field(self, x, y) -> np.ndarray:
        """Depth of lung along the beam at (x, y): 0 outside, deepest inside, low at the apex;
        it reaches its depth within a centimetre or two of the outline, so the lung's edge is
        sharp."""
        q, above, inside = self._gaps(x, y)
        wall = (1 - np.sqrt(q)) * np.float32(min(self.axes)) / 8
        ramps = np.clip(wall, 0, 1) * np.clip(above / 18, 0, 1) * np.clip(inside / 10, 0, 1)
        edges = np.sqrt(ramps)
        height = np.clip((y - self.apex) / (self.base - self.apex), 0, 1)
        return (self.depth * (0.6 + 0.4 * height) * edges).astype(np.float32)


def _heart_reach(heart, y, outward: float):
    """How far out from the midline the heart's border is at height y on the side ``outward``
    (0 where the heart is not). The heart is an ellipse tilted down toward the left."""
    hx, hy, hw, hh, tilt = heart
    c, s = np.cos(tilt), np.sin(tilt)
    # The ellipse as A dx^2 + 2 B dx dy + C dy^2 = 1, solved for dx at each dy.
    a = (c / hw) ** 2 + (s / hh) ** 2
    b = c * s * (1 / hw**2 - 1 / hh**2)
    cc = (s / hw) ** 2 + (c / hh) ** 2
    dy = y - np.float32(hy)
    disc = b * b * dy * dy - a * (cc * dy * dy - 1)
    edge = (-b * dy + outward * np.sqrt(np.clip(disc, 0, None))) / a
    return np.where(disc > 0, outward * (hx + edge), 0).astype(np.float32)


@dataclass
class Patient:
    view: str
    width: float  # half-width of the chest
    neck: float
    shoulders: float  # y of the shoulder line
    depth: float  # front-back
    lungs: dict[str, Lung]
    heart: tuple[float, float, float, float, float]  # centre x, y, half-axes, tilt (rad)
    density: float  # lung tissue, fraction of water
    ribs: list[tuple[float, float, float, float]]  # side, y at the spine, lateral x, width
    clavicle: tuple[float, float, float]  # y medial, rise, width
    scapula: tuple[float, float] | None  # medial border x at the top, its top y
    breasts: tuple[float, float, float] | None  # y, thickness, x offset
    fold: tuple[float, float, float, float] | None  # circle cx, cy, r, thickness
    tube: np.ndarray | None  # polyline (n, 2)
    vessels: dict[str, np.ndarray] = field(default_factory=dict)  # (n, 3): x, y, width


def _lung(rng, name: str, apex: float, lat: float, dome: float, medial: float, heart) -> Lung:
    outward = -1.0 if name == "right" else 1.0
    a = (lat - medial) / 2 + 6
    cx = outward * (lat + medial) / 2
    b = rng.uniform(70, 90)
    top_x = outward * (medial + 0.4 * (lat - medial))
    drop = rng.uniform(25, 45)  # how far the dome falls from its top to the lateral wall
    k = drop / (0.6 * (lat - medial) + 6) ** 2
    depth = rng.uniform(120, 160)
    hilum_y = apex + 0.55 * (dome - apex)
    border = max(medial, float(_heart_reach(heart, np.float32(hilum_y), outward)))
    hilum = (outward * (border + 12), hilum_y)
    return Lung(
        name,
        outward,
        (cx, apex + b),
        (a, b),
        (top_x, dome, k),
        medial,
        heart,
        depth,
        apex,
        dome + drop,
        hilum,
    )


def _patient(rng: np.random.Generator, height: float) -> Patient:
    view = "AP" if rng.random() < 0.25 else "PA"
    apex = -height / 2 + rng.uniform(40, 80)
    lat = rng.uniform(105, 135)
    middle = apex + rng.uniform(150, 190)
    domes = {"left": middle + rng.uniform(0, 40)}
    domes["right"] = domes["left"] - rng.uniform(8, 25)
    ratio = rng.uniform(0.38, 0.52) * (1.15 if view == "AP" else 1.0)
    hw = ratio * lat  # heart half-width: its full width over the chest's
    heart = (
        rng.uniform(0.2, 0.4) * hw,
        domes["left"] - rng.uniform(35, 50),
        hw,
        rng.uniform(50, 65),
        np.deg2rad(rng.uniform(25, 45)),
    )
    medial = rng.uniform(22, 32)
    lungs = {
        name: _lung(
            rng,
            name,
            apex + rng.uniform(-5, 5),
            lat * rng.uniform(0.96, 1.0),
            domes[name],
            medial,
            heart,
        )
        for name in ("right", "left")
    }
    return Patient(
        view=view,
        width=lat + rng.uniform(25, 45),
        neck=rng.uniform(55, 70),
        shoulders=apex - rng.uniform(5, 25),
        depth=rng.uniform(180, 240),
        lungs=lungs,
        heart=heart,
        density=rng.uniform(0.12, 0.30),
        ribs=_ribs(rng, apex, lat),
        clavicle=(apex + rng.uniform(5, 25), rng.uniform(10, 25), rng.uniform(14, 18)),
        scapula=_scapula(rng, view, apex, lat),
        breasts=(middle + rng.uniform(20, 60), rng.uniform(15, 40), rng.uniform(60, 100))
        if rng.random() < 0.45
        else None,
        fold=_fold(rng, apex, lat),
        tube=_tube(rng, apex, lat, middle),
    )


def _ribs(rng, apex: float, lat: float) -> list[tuple[float, float, float, float]]:
    ribs = []
    spacing = rng.uniform(19, 24)
    for side in (-1.0, 1.0):
        for k in range(10):
            y = apex - 8 + k * spacing
            reach = lat * min(1.0, 0.55 + 0.12 * k) + rng.uniform(0, 6)
            ribs.append((side, y, reach, rng.uniform(8, 12)))
    return ribs


def _scapula(rng, view: str, apex: float, lat: float):
    if view == "PA" and rng.random() > 0.4:
        return None
    return (lat - rng.uniform(10, 35), apex + rng.uniform(0, 20))


def _fold(rng, apex: float, lat: float):
    if rng.random() > 0.15:
        return None
    side = choose(rng, (-1.0, 1.0))
    r = rng.uniform(150, 260)
    return (
        side * (lat + r - rng.uniform(20, 50)),
        apex + rng.uniform(60, 160),
        r,
        rng.uniform(3, 8),
    )


def _tube(rng, apex: float, lat: float, middle: float):
    """A chest drain: in from the lateral wall low down, curving up and in toward the apex."""
    if rng.random() > 0.12:
        return None
    side = choose(rng, (-1.0, 1.0))
    start = np.array([side * (lat + 30), middle + rng.uniform(20, 60)])
    bend = np.array([side * (lat - rng.uniform(10, 30)), middle - rng.uniform(0, 40)])
    end = np.array([side * rng.uniform(40, 75), apex + rng.uniform(15, 45)])
    t = np.linspace(0, 1, 16)[:, None]
    return (1 - t) ** 2 * start + 2 * t * (1 - t) * bend + t**2 * end


# --------------------------------------------------------------------------------------------
# Vessel trees


def _vessels(rng: np.random.Generator, lung: Lung) -> np.ndarray:
    """Points (x, y, width mm) every 1.25 mm along a branching tree grown from the hilum;
    branches thin as they go and stop when they near the pleura, so markings fade toward the
    periphery."""
    out = []
    outward = lung.outward
    stack = []
    for angle in np.linspace(-2.2, 2.2, int(rng.integers(6, 9))):
        # Fanning out from the hilum: up, out and down (y grows downward), mirrored per side.
        heading = angle if outward > 0 else np.pi - angle
        stack.append((*lung.hilum, heading + rng.normal(0, 0.15), rng.uniform(3.5, 5.5)))
    while stack and len(out) < 24000:
        x, y, heading, width = stack.pop()
        while width > 0.6:
            dx, dy = 5 * np.cos(heading), 5 * np.sin(heading)
            if lung.rho(x + dx, y + dy) > 0.88:  # markings stop short of the pleura
                break
            out += [(x + t * dx, y + t * dy, width) for t in (0.25, 0.5, 0.75, 1.0)]
            x, y = x + dx, y + dy
            heading += rng.normal(0, 0.18)
            width *= 0.94
            if rng.random() < 0.22:
                stack.append(
                    (x, y, heading + rng.choice((-1, 1)) * rng.uniform(0.35, 0.7), width * 0.8)
                )
    return np.array(out, np.float32).reshape(-1, 3)


# --------------------------------------------------------------------------------------------
# Resampling helpers (numpy only)


def _linear(small: np.ndarray, positions: np.ndarray, axis: int) -> np.ndarray:
    """``small`` sampled at fractional ``positions`` along ``axis`` (edges clamp)."""
    n = small.shape[axis]
    p = np.clip(positions, 0, n - 1)
    low = np.minimum(np.floor(p).astype(np.intp), max(n - 2, 0))
    frac = (p - low).astype(np.float32)
    a, b = np.take(small, low, axis=axis), np.take(small, np.minimum(low + 1, n - 1), axis=axis)
    shape = [1] * small.ndim
    shape[axis] = -1
    frac = frac.reshape(shape)
    return a * (1 - frac) + b * frac


def _enlarge(small: np.ndarray, rows: int, cols: int, factor: int) -> np.ndarray:
    """A block-averaged (``factor``) image back to (rows, cols) by linear interpolation."""
    centre = (factor - 1) / 2.0
    out = _linear(small, (np.arange(rows) - centre) / factor, 0)
    return _linear(out, (np.arange(cols) - centre) / factor, 1)


def _shrink(a: np.ndarray, factor: int) -> np.ndarray:
    rows, cols = (a.shape[0] // factor) * factor, (a.shape[1] // factor) * factor
    blocks = a[:rows, :cols].reshape(rows // factor, factor, cols // factor, factor)
    return blocks.mean(axis=(1, 3))


def _box(a: np.ndarray, radius: int) -> np.ndarray:
    """A (2 radius + 1) box mean along both axes, edges repeated; thrice is near Gaussian."""
    if radius < 1:
        return a
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (radius + 1, radius)
        c = np.cumsum(np.pad(a, pad, mode="edge"), axis=axis, dtype=np.float64)
        hi = np.take(c, np.arange(2 * radius + 1, c.shape[axis]), axis=axis)
        lo = np.take(c, np.arange(0, c.shape[axis] - 2 * radius - 1), axis=axis)
        a = ((hi - lo) / (2 * radius + 1)).astype(np.float32)
    return a


def _blur(a: np.ndarray, sigma_px: float, factor: int) -> np.ndarray:
    """A smooth blur of sigma ~ ``sigma_px`` full pixels, computed at 1/``factor`` size."""
    small = _shrink(a, factor)
    radius = max(1, round(sigma_px / factor))
    for _ in range(3):
        small = _box(small, radius)
    return _enlarge(small, a.shape[0], a.shape[1], factor)


def _bilinear(grid: np.ndarray, fy: np.ndarray, fx: np.ndarray) -> np.ndarray:
    """``grid`` at fractional (row, column) positions of any shape (edges clamp)."""
    ny, nx = grid.shape
    fy, fx = np.clip(fy, 0, ny - 1.001), np.clip(fx, 0, nx - 1.001)
    y0, x0 = fy.astype(np.intp), fx.astype(np.intp)
    dy, dx = (fy - y0).astype(np.float32), (fx - x0).astype(np.float32)
    top = grid[y0, x0] * (1 - dx) + grid[y0, x0 + 1] * dx
    bottom = grid[y0 + 1, x0] * (1 - dx) + grid[y0 + 1, x0 + 1] * dx
    return top * (1 - dy) + bottom * dy


# --------------------------------------------------------------------------------------------
# The film: pixel grid in mm


@dataclass
class Film:
    modality: str
    rows: int
    cols: int
    pixel: float  # delivered (mm)
    native: float  # the detector's own pixel (mm)

    @property
    def x(self) -> np.ndarray:
        return ((np.arange(self.cols, dtype=np.float32) - (self.cols - 1) / 2) * self.pixel)[None]

    @property
    def y(self) -> np.ndarray:
        c = (self.rows - 1) / 2
        return ((np.arange(self.rows, dtype=np.float32) - c) * self.pixel)[:, None]

    def box(self, x0: float, x1: float, y0: float, y1: float) -> tuple[slice, slice]:
        """Rows and columns covering the rectangle x0..x1, y0..y1 (mm), clipped to the film."""
        j0 = int(np.floor(x0 / self.pixel + (self.cols - 1) / 2))
        j1 = int(np.ceil(x1 / self.pixel + (self.cols - 1) / 2)) + 1
        i0 = int(np.floor(y0 / self.pixel + (self.rows - 1) / 2))
        i1 = int(np.ceil(y1 / self.pixel + (self.rows - 1) / 2)) + 1
        return (
            slice(max(i0, 0), min(max(i1, 0), self.rows)),
            slice(max(j0, 0), min(max(j1, 0), self.cols)),
        )

    def coords(self, box: tuple[slice, slice]) -> tuple[np.ndarray, np.ndarray]:
        return self.x[:, box[1]], self.y[box[0]]


def _film(rng: np.random.Generator) -> Film:
    modality = "CR" if rng.random() < 0.45 else "DX"
    rows = int(rng.integers(1024, 1281))
    height, width = (430.0, 350.0) if modality == "CR" else (430.0, 430.0)
    pixel = height / rows
    return Film(modality, rows, round(width / pixel), pixel, rng.uniform(0.14, 0.2))


# Vessel markings are splatted on a grid this many times coarser, then blurred and sampled.
_CANVAS = 2


def _canvas_index(film: Film, x, y) -> tuple[np.ndarray, np.ndarray]:
    """Fractional (row, column) on the vessel canvas of points in mm."""
    centre = (_CANVAS - 1) / 2.0
    fx = (x / film.pixel + (film.cols - 1) / 2 - centre) / _CANVAS
    fy = (y / film.pixel + (film.rows - 1) / 2 - centre) / _CANVAS
    return fy, fx


def _vessel_canvas(film: Film, patient: Patient) -> np.ndarray:
    """Projected vessel thickness (mm of tissue) on the coarse canvas."""
    canvas = np.zeros((film.rows // _CANVAS + 2, film.cols // _CANVAS + 2), np.float32)
    cell = (film.pixel * _CANVAS) ** 2
    for points in patient.vessels.values():
        if not len(points):
            continue
        x, y, w = points[:, 0], points[:, 1], points[:, 2]
        # A 1.25 mm piece of vessel (with its sheath, 1.5x the blood) spread over a cell.
        volume = 1.5 * np.pi / 4 * w * w * 1.25 / cell
        fy, fx = _canvas_index(film, x, y)
        y0, x0 = np.floor(fy).astype(np.intp), np.floor(fx).astype(np.intp)
        dy, dx = fy - y0, fx - x0
        ok = (y0 >= 0) & (x0 >= 0) & (y0 < canvas.shape[0] - 1) & (x0 < canvas.shape[1] - 1)
        for oy, ox, weight in (
            (0, 0, (1 - dy) * (1 - dx)),
            (0, 1, (1 - dy) * dx),
            (1, 0, dy * (1 - dx)),
            (1, 1, dy * dx),
        ):
            np.add.at(canvas, (y0[ok] + oy, x0[ok] + ox), (volume * weight)[ok])
    return _box(canvas, 1)


# --------------------------------------------------------------------------------------------
# The pneumothorax: the lung collapses toward its hilum


@dataclass(frozen=True)
class Pneumothorax:
    side: str
    pattern: str
    lateral: float  # how much the lung's outer half is compressed (>= 1)
    upper: float  # ... its upper half
    lower: float  # ... its lower half
    rim_mm: float
    line_mm: float  # tissue-equivalent thickness of the visceral pleura seen edge-on

    def warp(self, lung: Lung, x, y):
        """Where a point of the collapsed lung was in the lung before it collapsed."""
        hx, hy = lung.hilum
        outward = lung.outward
        dx, dy = x - np.float32(hx), y - np.float32(hy)
        sx = np.where(dx * outward > 0, np.float32(self.lateral), np.float32(1.0))
        sy = np.where(dy < 0, np.float32(self.upper), np.float32(self.lower))
        return hx + dx * sx, hy + dy * sy, sx * sy


def _pneumothorax(rng: np.random.Generator, patient: Patient) -> Pneumothorax:
    side = choose(rng, ("right", "left"))
    lung = patient.lungs[side]
    hx, hy = lung.hilum
    wall = abs(lung.centre[0]) + lung.axes[0] - abs(hx)  # from the hilum to the lateral wall
    pattern = choose(rng, ("apical", "lateral", "large"), (0.35, 0.35, 0.3))
    line = rng.uniform(2, 5)
    if pattern == "apical":
        d = rng.uniform(10, 40)
        up = hy - lung.apex
        return Pneumothorax(side, pattern, 1.0, up / (up - d), 1.0, d, line)
    if pattern == "lateral":
        d = rng.uniform(8, 35)
        return Pneumothorax(side, pattern, wall / (wall - d), 1.0, 1.0, d, line)
    f = rng.uniform(0.35, 0.7)
    low = (1 + f) / 2  # the base is held by the pulmonary ligament
    return Pneumothorax(side, pattern, 1 / f, 1 / f, 1 / low, (1 - f) * wall, line)


# --------------------------------------------------------------------------------------------
# Thickness maps (mm of soft tissue, mm of bone)


def _sig(x):
    return 0.5 + 0.5 * np.tanh(x)


def _body(p: Patient, x, y) -> np.ndarray:
    """Soft tissue through the torso, the neck above the shoulders."""
    half = p.neck + (p.width - p.neck) * _sig((y - p.shoulders) / 12)
    r = np.abs(x / half)
    # A rounded-rectangle cross-section: full depth until near the flanks.
    return (p.depth * np.sqrt(np.clip(1 - r * r * r, 0, 1))).astype(np.float32)


def _lungs(p: Patient, film: Film, tissue: np.ndarray, canvas, ptx: Pneumothorax | None):
    """Air in place of tissue where the lungs are, vessels inside them; the pneumothorax's
    masks on its side."""
    masks = {}
    for side, lung in p.lungs.items():
        xs = lung.centre[0] + (lung.axes[0] + 5) * np.array([-1.0, 1.0])
        box = film.box(xs.min(), xs.max(), lung.apex - 5, lung.base + 5)
        x, y = film.coords(box)
        cavity = np.minimum(lung.field(x, y), 0.8 * tissue[box])
        if ptx is not None and ptx.side == side:
            lung_tissue, vessels, air, kept = _collapsed(p, lung, ptx, film, canvas, x, y, cavity)
            line = kept & _next_to(air, 2) & ~_inner(kept)
            tissue[box] += line * np.float32(ptx.line_mm)
            masks = {"finding": _full(film, box, air), "lung": _full(film, box, kept)}
        else:
            fy, fx = _canvas_index(film, x, y)
            vessels = np.where(cavity > 0, _bilinear(canvas, fy, fx), 0)
            lung_tissue = p.density * cavity
        tissue[box] += lung_tissue - cavity + vessels
    return masks


def _collapsed(p: Patient, lung: Lung, ptx: Pneumothorax, film: Film, canvas, x, y, cavity):
    """(lung tissue, vessels, pleural air mask, collapsed lung mask) on a lung's box.

    A point of the collapsed lung holds what was at its warped position, squeezed: the
    tissue there fills the local thoracic depth a little more densely, the markings crowd.
    Between the collapsed lung and the wall there is only air: no tissue, no markings.
    """
    xw, yw, jacobian = ptx.warp(lung, x, y)
    kept = lung.field(xw, yw) > 0
    squeeze = np.minimum(np.sqrt(jacobian), np.float32(1.6))
    fy, fx = _canvas_index(film, xw, yw)
    vessels = np.where(kept, _bilinear(canvas, fy, fx) * squeeze, 0)
    lung_tissue = np.where(kept, p.density * cavity * squeeze, 0)
    air = (cavity > 0) & ~kept
    return lung_tissue, vessels, air, kept


def _next_to(mask: np.ndarray, n: int) -> np.ndarray:
    """``mask`` grown by ``n`` pixels (4-neighbours)."""
    out = mask.copy()
    for _ in range(n):
        grown = out.copy()
        grown[1:] |= out[:-1]
        grown[:-1] |= out[1:]
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        out = grown
    return out


def _inner(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` whose four neighbours are all in it, twice over (2-pixel erosion)."""
    return ~_next_to(~mask, 2)


def _full(film: Film, box, mask: np.ndarray) -> np.ndarray:
    out = np.zeros((film.rows, film.cols), bool)
    out[box] = mask
    return out


def _tissue(p: Patient, film: Film, ptx: Pneumothorax | None) -> tuple[np.ndarray, dict]:
    """Soft tissue along the beam (mm of water) and the pneumothorax's masks."""
    tissue = _body(p, film.x, film.y)
    masks = _lungs(p, film, tissue, _vessel_canvas(film, p), ptx)
    _soft_extras(p, film, tissue)
    return tissue, masks


def _soft_extras(p: Patient, film: Film, tissue: np.ndarray) -> None:
    """Breasts, a skin fold, a chest tube's plastic: tissue on top of the torso."""
    x, y = film.x, film.y
    if p.breasts is not None:
        yb, thick, off = p.breasts
        for side in (-1.0, 1.0):
            box = film.box(side * off - 80, side * off + 80, yb - 60, yb + 60)
            bx, by = film.coords(box)
            q = ((bx - side * off) / 75) ** 2 + ((by - yb) / 55) ** 2
            tissue[box] += thick * np.sqrt(np.clip(1 - q, 0, 1)) * _sig((by - yb) / 12)
    if p.fold is not None:
        cx, cy, r, thick = p.fold
        inside = r - np.sqrt((x - cx) ** 2 + (y - cy) ** 2)
        near = (inside >= 0) & (np.abs(y - cy) < 0.5 * r)
        # A step at the fold's edge fading inward: a line that mimics a pleural edge.
        tissue += np.where(near, thick * np.exp(-inside / 12), 0).astype(np.float32)
    if p.tube is not None:
        d = _polyline_distance(film, p.tube, 6.0)
        if d is not None:
            box, dist = d
            wall = np.sqrt(np.clip(4.5**2 - dist**2, 0, None)) - np.sqrt(
                np.clip(3.0**2 - dist**2, 0, None)
            )
            tissue[box] += 2.4 * wall.astype(np.float32)


def _polyline_distance(film: Film, points: np.ndarray, reach: float):
    """(box, distance in mm to the polyline) over the polyline's bounding box; each segment
    is measured only over its own box."""
    box = film.box(
        points[:, 0].min() - reach,
        points[:, 0].max() + reach,
        points[:, 1].min() - reach,
        points[:, 1].max() + reach,
    )
    if box[0].start >= box[0].stop or box[1].start >= box[1].stop:
        return None
    best = np.full((box[0].stop - box[0].start, box[1].stop - box[1].start), np.inf, np.float32)
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        sub = film.box(
            min(x0, x1) - reach, max(x0, x1) + reach, min(y0, y1) - reach, max(y0, y1) + reach
        )
        if sub[0].start >= sub[0].stop or sub[1].start >= sub[1].stop:
            continue
        x, y = film.coords(sub)
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((x - x0) * dx + (y - y0) * dy) / (dx * dx + dy * dy), 0, 1)
        rows = slice(sub[0].start - box[0].start, sub[0].stop - box[0].start)
        cols = slice(sub[1].start - box[1].start, sub[1].stop - box[1].start)
        np.minimum(
            best[rows, cols], np.hypot(x - x0 - t * dx, y - y0 - t * dy), out=best[rows, cols]
        )
    return box, best


def _bone(p: Patient, film: Film) -> np.ndarray:
    bone = np.zeros((film.rows, film.cols), np.float32)
    # Vertebrae: bodies and discs down the midline, seen faintly through the mediastinum.
    spine = film.box(-22, 22, -film.rows * film.pixel, film.rows * film.pixel)
    sx, sy = film.coords(spine)
    body = np.sqrt(np.clip(1 - (sx / 20) ** 2, 0, 1)) * (0.85 + 0.15 * np.cos(sy * 2 * np.pi / 26))
    bone[spine] += 6 * body
    for rib in p.ribs:
        _rib(film, bone, rib)
    _clavicles(p, film, bone)
    if p.scapula is not None:
        for side in (-1.0, 1.0):
            _scapula_shadow(p, film, bone, side)
    return bone


def _scapula_shadow(p: Patient, film: Film, bone: np.ndarray, side: float) -> None:
    """A thin triangular plate (superior angle, inferior angle, glenoid) whose medial border,
    thicker, runs down over the lateral lung: an edge a pleural line can be mistaken for."""
    border, top = p.scapula
    corners = np.array([(border, top), (border + 35, top + 130), (p.width, top + 20)])
    box = film.box(
        min(side * corners[:, 0]),
        max(side * corners[:, 0]),
        corners[:, 1].min(),
        corners[:, 1].max(),
    )
    x, y = film.coords(box)
    ax = side * x
    inside = np.ones(np.broadcast(ax, y).shape, bool)
    medial = None
    for k in range(3):
        (x0, y0), (x1, y1) = corners[k], corners[(k + 1) % 3]
        # Distance to the edge's line, positive on the triangle's side (corners run clockwise).
        signed = ((x1 - x0) * (y - y0) - (y1 - y0) * (ax - x0)) / np.hypot(x1 - x0, y1 - y0)
        inside &= signed <= 0
        if k == 0:
            medial = -signed
    rim = inside & (medial < 4)
    bone[box] += (inside * np.float32(1.5) + rim * np.float32(2.5)).astype(np.float32)


def _band(film: Film, bone: np.ndarray, side: float, span, curve, width: float, strength: float):
    """A bone of ``width`` along y = curve(|x|) for |x| in ``span`` on one side: thickest at
    its cortical edges, as a tube seen from the side."""
    lo, hi = span
    xs = np.linspace(lo, hi, 64)
    ys = curve(xs)
    box = film.box(
        min(side * lo, side * hi), max(side * lo, side * hi), ys.min() - width, ys.max() + width
    )
    if box[0].start >= box[0].stop or box[1].start >= box[1].stop:
        return
    x, y = film.coords(box)
    ax = np.abs(x)
    yc = np.interp(ax, xs, ys)
    slope = np.interp(ax, xs, np.gradient(ys, xs))
    d = np.abs(y - yc) / np.sqrt(1 + slope * slope) / (width / 2)
    inside = (d < 1) & (ax >= lo) & (ax <= hi)
    d = np.clip(d, 0, 1)
    profile = strength * np.sqrt(1 - d * d) * (0.55 + 0.45 * d * d)
    bone[box] += np.where(inside, profile, 0).astype(np.float32)


def _rib(film: Film, bone: np.ndarray, rib) -> None:
    """A posterior rib from the spine out and up then down, and its anterior rib running
    down and in toward the sternum (fainter: thinner bone)."""
    side, y0, reach, width = rib

    def posterior(ax):
        t = (ax - 12) / (reach - 12)
        return y0 - 14 * np.sin(0.9 * np.pi * t) + 30 * t * t

    end = float(posterior(np.float64(reach)))

    def anterior(ax):
        t = (reach - ax) / (0.62 * reach)
        return end + 50 * (1.3 * t - 0.3 * t * t)

    _band(film, bone, side, (12, reach), posterior, width, 5.0)
    _band(film, bone, side, (0.38 * reach, reach), anterior, width * 0.9, 3.0)


def _clavicles(p: Patient, film: Film, bone: np.ndarray) -> None:
    y0, rise, width = p.clavicle
    length = p.width - 30

    def curve(ax):
        t = (ax - 20) / length
        return y0 - rise * t + 5 * np.sin(2 * np.pi * t)

    for side in (-1.0, 1.0):
        _band(film, bone, side, (20, 20 + length), curve, width, 8.0)


def _marker(rng: np.random.Generator, film: Film, field: tuple) -> tuple[np.ndarray, str]:
    """A lead letter in an upper corner inside the collimated field: its pixels, the letter."""
    letter = choose(rng, ("L", "R"))
    glyph = np.array([[c == "1" for c in row] for row in _GLYPHS[letter]])
    cell = max(1, round(rng.uniform(1.6, 2.4) / film.pixel))
    big = np.kron(glyph, np.ones((cell, cell), bool))
    left, top = field[2], field[0]
    # The patient's right is the image's left: an R goes on the left, an L on the right.
    i = top + int(rng.uniform(8, 25) / film.pixel)
    j = left + int(rng.uniform(8, 25) / film.pixel)
    if letter == "L":
        j = field[3] - big.shape[1] - int(rng.uniform(8, 25) / film.pixel)
    lead = np.zeros((film.rows, film.cols), bool)
    lead[i : i + big.shape[0], j : j + big.shape[1]] = big
    return lead, letter


# --------------------------------------------------------------------------------------------
# Exposure, detector and processing


@dataclass(frozen=True)
class Exposure:
    mu_tissue: float  # per mm
    bone_factor: float
    scatter: float
    photons: float
    sharpen: float
    sharpen_mm: float
    curve: tuple[str, float, float]  # ("sigmoid", gain, shift) or ("power", gamma, 0)
    margins: tuple[float, float, float, float]  # top, bottom, left, right (mm)


def _exposure(rng: np.random.Generator) -> Exposure:
    if rng.random() < 0.5:
        curve = ("sigmoid", rng.uniform(2.0, 3.5), rng.uniform(-0.1, 0.1))
    else:
        curve = ("power", rng.uniform(0.6, 1.1), 0.0)
    return Exposure(
        mu_tissue=rng.uniform(0.019, 0.024),
        bone_factor=rng.uniform(2.2, 2.8),
        scatter=rng.uniform(0.1, 0.5),
        photons=rng.uniform(15000, 90000),
        sharpen=rng.uniform(0.8, 2.0),
        sharpen_mm=rng.uniform(2, 6),
        curve=curve,
        margins=tuple(float(m) for m in rng.uniform(0, 35, 4)),
    )


def _field(film: Film, e: Exposure) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) pixel bounds of the collimated (exposed) field."""
    top, bottom, left, right = (round(m / film.pixel) for m in e.margins)
    return top, film.rows - bottom, left, film.cols - right


def _references(p: Patient, e: Exposure) -> tuple[float, float]:
    """Log attenuation expected in mid-lung and through the heart and spine: the processing
    maps this exposure's range from them, never from the image (a finding must not change how
    the rest of the film is shown)."""
    lung = p.lungs["right"]
    x, y = np.float32(lung.centre[0]), np.float32(lung.centre[1])
    body = float(_body(p, x, y))
    cavity = min(float(lung.field(x, y)), 0.8 * body)
    low = e.mu_tissue * (body - (1 - p.density) * cavity)
    high = e.mu_tissue * (
        float(_body(p, np.float32(0), np.float32(p.heart[1]))) + e.bone_factor * 6
    )
    # Scatter lifts both: in the lungs it is a fraction of their own transmission, behind the
    # heart mostly what the lungs around it send.
    lung, heart = np.exp(-low), np.exp(-high)
    return float(-np.log(lung * (1 + 0.6 * e.scatter))), float(
        -np.log(heart + 0.4 * e.scatter * lung)
    )


def _detect(film, e: Exposure, tissue, bone, lead, rng) -> np.ndarray:
    """Log exposure: transmission, scatter, quantum noise, collimation."""
    attenuation = e.mu_tissue * (tissue + e.bone_factor * bone)
    attenuation[lead] += 6.0
    primary = np.exp(-attenuation)
    # Scatter comes from the patient, not from the air around it: a wide blur of what the
    # body transmits.
    inside = np.where(tissue > 20, primary, np.float32(0))
    total = primary + np.float32(e.scatter) * _blur(inside, 50 / film.pixel, 16)
    noise = rng.standard_normal(total.shape, dtype=np.float32)
    detected = total + np.sqrt(total / np.float32(e.photons)) * noise
    top, bottom, left, right = _field(film, e)
    unexposed = np.ones(total.shape, bool)
    unexposed[top:bottom, left:right] = False
    detected[unexposed] = np.float32(2e-4) * (1 + 0.2 * noise[unexposed])
    return -np.log(np.maximum(detected, np.float32(1e-4)))


def _process(signal: np.ndarray, film: Film, e: Exposure, refs) -> np.ndarray:
    """The vendor's look: normalise to the references, unsharp mask, tone curve; 0..1."""
    low, high = refs
    s = (signal - np.float32(low)) / np.float32(high - low)
    if e.sharpen > 0:
        s = s + np.float32(e.sharpen) * (s - _blur(s, e.sharpen_mm / film.pixel, 4))
    kind, a, b = e.curve
    if kind == "sigmoid":
        # Scaled so that -0.6 (air beside the body) and 1.6 (dense bone) are the ends.
        lo, hi = (1 / (1 + np.exp(-a * (v - 0.4 - b))) for v in (-0.6, 1.6))
        return (1 / (1 + np.exp(-a * (s - 0.4 - b))) - lo) / (hi - lo)
    return np.clip((s + 0.6) / 2.2, 0, 1) ** np.float32(a)


def _store(shown: np.ndarray, film: Film, rng: np.random.Generator):
    """(stored values, style): CR MONOCHROME1 10 bits or DX MONOCHROME2 14/12 bits."""
    if film.modality == "CR":
        bits, photometric = 10, "MONOCHROME1"
        has_window = rng.random() < 0.4
    else:
        bits = 14 if rng.random() < 0.75 else 12
        photometric, has_window = "MONOCHROME2", rng.random() < 0.85
    top = (1 << bits) - 1
    values = 1 - shown if photometric == "MONOCHROME1" else shown
    stored = np.rint(np.clip(values, 0, 1) * top).astype(np.uint16)
    window = None
    if has_window:
        lo, hi = rng.uniform(0.0, 0.1), rng.uniform(0.9, 1.0)
        window = ((lo + hi) / 2 * top, (hi - lo) * top)
    style = RadiographStyle(
        modality=film.modality,
        photometric=photometric,
        bits=bits,
        pixel_mm=film.pixel,
        window=window,
        rescale=film.modality == "DX" and rng.random() < 0.5,
    )
    return stored, style


def draw(rng: np.random.Generator, *, positive: bool) -> Drawn:
    """One detector chest radiograph; the pneumothorax (if ``positive``) is the only difference
    the flag makes."""
    header_rng, anatomy_rng, finding_rng, noise_rng = rng.spawn(4)
    film = _film(anatomy_rng)
    patient = _patient(anatomy_rng, film.rows * film.pixel)
    for side, lung in patient.lungs.items():
        patient.vessels[side] = _vessels(anatomy_rng, lung)
    exposure = _exposure(anatomy_rng)
    lead, letter = _marker(anatomy_rng, film, _field(film, exposure))
    ptx = _pneumothorax(finding_rng, patient) if positive else None

    tissue, masks = _tissue(patient, film, ptx)
    bone = _bone(patient, film)
    signal = _detect(film, exposure, tissue, bone, lead, noise_rng)
    shown = _process(signal, film, exposure, _references(patient, exposure))
    stored, style = _store(shown, film, header_rng)
    if patient.view == "AP":
        style = RadiographStyle(**{**style.__dict__, "view": "AP"})
    salt = "positive" if positive else "negative"
    header = study_header(header_rng, STYLE, salt)
    header["Modality"] = film.modality
    ds = radiograph(stored, style=style, header=header, rng=header_rng, salt=salt)

    finding = {"type": "none"}
    if ptx is not None:
        air, kept = masks["finding"], masks["lung"]
        finding = {
            "type": "pneumothorax",
            "side": ptx.side,
            "pattern": ptx.pattern,
            "area_fraction": round(float(air.sum() / max(1, air.sum() + kept.sum())), 4),
            "rim_mm": round(ptx.rim_mm, 1),
            "contrast": round(exposure.mu_tissue * patient.density * 100, 3),
        }
    parameters = {
        "rows": film.rows,
        "columns": film.cols,
        "pixel_mm": round(film.pixel, 4),
        "native_pixel_mm": round(film.native, 3),
        "native_rows": round(film.rows * film.pixel / film.native),
        "modality": film.modality,
        "view": patient.view,
        "photometric": style.photometric,
        "bits": style.bits,
        "window": style.window is not None,
        "photons": round(exposure.photons),
        "lung_density": round(patient.density, 3),
        "cardiothoracic_ratio": round(
            patient.heart[2]
            / max(lung.axes[0] + abs(lung.centre[0]) for lung in patient.lungs.values()),
            3,
        ),
        "scatter": round(exposure.scatter, 3),
        "curve": exposure.curve[0],
        "chest_tube": patient.tube is not None,
        "skin_fold": patient.fold is not None,
        "breasts": patient.breasts is not None,
        "marker": letter,
    }
    return Drawn([ds], positive, finding, parameters, masks)
