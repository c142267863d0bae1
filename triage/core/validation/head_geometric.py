"""Head CT family "geometric": a head of nested ellipsoids with flat tissue values plus noise.

How it draws. The head is a stack of concentric ellipsoids, each tissue one flat HU value:
scalp, skull, a thin CSF rim under the inner table, brain; two lateral ventricles and a third
ventricle inside; in half the heads a flattened bone ellipsoid at the bottom stands for the
skull base. The head is turned in the axial plane (yaw) and off the scanner's centre; slices
are plain axial (no gantry tilt). White Gaussian noise, stronger in bone. No texture, no
partial volume: every pixel is one tissue. This is the kind of phantom a first attempt at a
head CT generator draws (and the one issue 12 was found with), kept as a family of its own.

Parameter ranges (uniform unless said):

- matrix 256 (55 %) or 512; field of view 200-260 mm (pixel 0.39-1.02 mm)
- slices 16-64 covering from 55-75 % of the head's height below its centre to 2-8 mm above the
  vertex; spacing = coverage / slices, at most 10 mm; thickness = spacing (70 %) or 80-100 % of
  it
- head semi-axes 66-82 mm (left-right), 82-102 mm (front-back), 72-92 mm (up); centre within
  +-15 mm of the isocentre; yaw +-8 degrees
- scalp 3-7 mm at 15-55 HU; skull 4-9 mm at 850-1500 HU with an extra 30-120 HU of noise; CSF
  rim 0.5-2.5 mm at 0-12 HU; brain 28-42 HU; ventricles at the CSF value, lateral ventricles
  4-9 x 18-32 x 9-16 mm semi-axes, 7-13 mm off the midline
- skull base (50 %): bone 700-1300 HU, 8-14 mm thick, 55-70 % of the head's width
- noise sd 2-10 HU (soft tissue), white
- storage: u12-1024 (35 %), u16-1000 (15 %), s16-0 (25 %), s12-0 (10 %), u16-1024-half (15 %)

Positives (one bleed, flat 50-90 HU plus the same noise), the type uniform among five, the
volume log-uniform 2-100 mL (subarachnoid 2-30 mL, intraventricular at most 80 % of the
ventricles), grown voxel by voxel from a priority field until the volume is reached:

- epidural: a sphere centred outside the skull cut by the inner table: a biconvex lens
- subdural: a crescent in a shell under the inner table of one hemisphere, thickest at its
  centre (3-6 mm in 40 %, else 6-20 mm) and thinning with the angle from it
- intraparenchymal: the union of two or three ellipsoids in the brain; a 15-24 HU oedema rim
  2-6 mm wide in half of them
- subarachnoid: a 1.5-3 mm layer under the inner table spreading from a seed point, plus the
  interhemispheric fissure near it
- intraventricular: dependent blood filling a lateral ventricle (or both) from the posterior
  (occipital horns, the patient lies supine) up to a level
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from triage.core.validation.series import (
    CT_ENCODINGS,
    CtStyle,
    Drawn,
    SliceGeometry,
    StudyStyle,
    choose,
    ct_series,
    log_uniform,
    study_header,
)

# Labels painted before HU are assigned.
AIR, SCALP, BONE, CSF, BRAIN, VENTRICLE, BASE, BLOOD, OEDEMA = range(9)
_BLEEDS = ("epidural", "subdural", "intraparenchymal", "subarachnoid", "intraventricular")

# One paragraph for the model cards: how this family draws, with its ranges.
DESCRIPTION = (
    "Head CT drawn as nested ellipsoids with flat tissue values plus white noise (the kind of "
    "phantom a first generator draws): scalp 3-7 mm at 15-55 HU, skull 4-9 mm at 850-1500 HU "
    "(+30-120 HU noise), CSF rim 0.5-2.5 mm and ventricles at 0-12 HU, brain 28-42 HU, a "
    "flattened bone skull base in half; head semi-axes 66-82 x 82-102 x 72-92 mm, centre +-15 "
    "mm, yaw +-8 degrees, no tilt; 16-64 axial slices of at most 10 mm, matrix 256 or 512 "
    "over 200-260 mm; noise sd 2-10 HU; five HU storage encodings. Positives: one bleed of "
    "50-90 HU, epidural lens, subdural crescent (3-20 mm), intraparenchymal blob (oedema rim "
    "in half), subarachnoid layer and fissure, or dependent intraventricular blood, log- "
    "uniform 2-100 mL (subarachnoid 2-30)."
)

STYLE = StudyStyle(
    modality="CT",
    body_part="HEAD",
    descriptions=("CT HEAD WO CONTRAST", "CT BRAIN", "HEAD ROUTINE", "CT HEAD"),
    bare_descriptions=("CT HEAD", "CT BRAIN WO", "BRAIN NON CONTRAST"),
    series_descriptions=("AXIAL 5MM", "Head 5.0", "BRAIN STD", "AX HEAD"),
    manufacturers=(("GE MEDICAL SYSTEMS", "LightSpeed VCT"), ("SIEMENS", "SOMATOM Definition")),
)


@dataclass(frozen=True)
class Ellipsoid:
    """In head coordinates (u left, v posterior, w up; mm from the head's centre)."""

    centre: tuple[float, float, float]
    axes: tuple[float, float, float]

    def q2d(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return ((u - self.centre[0]) / self.axes[0]) ** 2 + (
            (v - self.centre[1]) / self.axes[1]
        ) ** 2

    def room(self, w: float) -> float:
        """1 - the w term: a point of the slice at ``w`` is inside where q2d < room."""
        return 1.0 - ((w - self.centre[2]) / self.axes[2]) ** 2


@dataclass
class Head:
    layers: list[tuple[int, Ellipsoid]]  # painted in order, later ones over earlier ones
    inner: Ellipsoid  # the inner table
    ventricles: list[Ellipsoid]
    centre: tuple[float, float, float]  # patient coordinates
    yaw: float
    hu: np.ndarray  # per label
    sd: np.ndarray  # per label


@dataclass
class Grid:
    matrix: int
    pixel: float
    z: np.ndarray  # slice positions (patient z), ascending
    spacing: float
    thickness: float
    u: np.ndarray  # (rows, columns) head coordinates of every pixel
    v: np.ndarray
    w: np.ndarray  # per slice

    @property
    def voxel_ml(self) -> float:
        return self.pixel * self.pixel * self.spacing / 1000.0


def _head(rng: np.random.Generator) -> Head:
    a, b, c = rng.uniform(66, 82), rng.uniform(82, 102), rng.uniform(72, 92)
    scalp, skull, rim = rng.uniform(3, 7), rng.uniform(4, 9), rng.uniform(0.5, 2.5)

    def shell(depth: float) -> Ellipsoid:
        return Ellipsoid((0.0, 0.0, 0.0), (a - depth, b - depth, c - depth))

    inner = shell(scalp + skull)
    layers = [
        (SCALP, shell(0)),
        (BONE, shell(scalp)),
        (CSF, inner),
        (BRAIN, shell(scalp + skull + rim)),
    ]
    ventricles = _ventricles(rng)
    layers += [(VENTRICLE, e) for e in ventricles]
    if rng.random() < 0.5:
        base = Ellipsoid(
            (0.0, rng.uniform(-5, 10), -c * rng.uniform(0.5, 0.65)),
            (a * rng.uniform(0.55, 0.7), b * rng.uniform(0.55, 0.7), rng.uniform(4, 7)),
        )
        layers.append((BASE, base))
    hu = np.zeros(9, np.float32)
    sd = np.zeros(9, np.float32)
    hu[AIR], hu[SCALP], hu[BONE] = -1000, rng.uniform(15, 55), rng.uniform(850, 1500)
    hu[CSF] = hu[VENTRICLE] = rng.uniform(0, 12)
    hu[BRAIN] = rng.uniform(28, 42)
    hu[BASE] = rng.uniform(700, 1300)
    hu[OEDEMA] = rng.uniform(15, 24)
    noise = rng.uniform(2, 10)
    sd[:] = noise
    sd[[BONE, BASE]] = np.hypot(noise, rng.uniform(30, 120))
    centre = (rng.uniform(-15, 15), rng.uniform(-15, 15), rng.uniform(-150, 50))
    return Head(layers, inner, ventricles, centre, np.deg2rad(rng.uniform(-8, 8)), hu, sd)


def _ventricles(rng: np.random.Generator) -> list[Ellipsoid]:
    off, v0, w0 = rng.uniform(7, 13), rng.uniform(-5, 10), rng.uniform(5, 20)
    axes = (rng.uniform(4, 9), rng.uniform(18, 32), rng.uniform(9, 16))
    third = Ellipsoid((0.0, v0, w0 - rng.uniform(14, 20)), (rng.uniform(1.5, 3), 12.0, 9.0))
    return [Ellipsoid((-off, v0, w0), axes), Ellipsoid((off, v0, w0), axes), third]


def _grid(rng: np.random.Generator, head: Head) -> Grid:
    matrix = 256 if rng.random() < 0.55 else 512
    pixel = rng.uniform(200, 260) / matrix
    c = head.layers[0][1].axes[2]
    bottom, top = -c * rng.uniform(0.55, 0.75), c + rng.uniform(2, 8)
    n_slices = int(rng.integers(16, 65))
    spacing = min(10.0, (top - bottom) / n_slices)
    thickness = spacing if rng.random() < 0.7 else spacing * rng.uniform(0.8, 1.0)
    w = bottom + spacing * (np.arange(n_slices) + 0.5)
    half = (matrix - 1) / 2.0
    x = (np.arange(matrix) - half) * pixel - head.centre[0]
    y = (np.arange(matrix) - half) * pixel - head.centre[1]
    cos, sin = np.cos(head.yaw), np.sin(head.yaw)
    u = (cos * x[None, :] + sin * y[:, None]).astype(np.float32)
    v = (-sin * x[None, :] + cos * y[:, None]).astype(np.float32)
    z = w + head.centre[2]
    return Grid(matrix, pixel, z, spacing, thickness, u, v, w)


def _paint(head: Head, grid: Grid) -> np.ndarray:
    labels = np.zeros((len(grid.w), grid.matrix, grid.matrix), np.uint8)
    q = [(label, e, e.q2d(grid.u, grid.v)) for label, e in head.layers]
    outer = head.layers[0][1]
    for k, w in enumerate(grid.w):
        for label, e, q2 in q:
            room = e.room(w)
            if room > 0:
                inside = q2 < room
                if label == BASE:  # the skull base stays inside the head
                    inside &= q[0][2] < outer.room(w)
                labels[k][inside] = label
    return labels


# --------------------------------------------------------------------------------------------
# Bleeds: each type is a priority over candidate voxels; the lowest ``n`` voxels are the bleed.


@dataclass
class Growth:
    """A bleed to grow: ``priority(u, v, w)`` over voxels whose label is in ``labels``.

    ``box`` (centre in head coordinates, reach in mm) and ``shell`` (only voxels within this
    depth of the inner table) only narrow where the priority is computed, for speed.
    """

    kind: str
    side: str
    labels: tuple[int, ...]
    priority: object  # callable(u, v, w) -> array
    details: dict
    box: tuple[np.ndarray, float] | None = None
    shell: float | None = None


def _direction(rng: np.random.Generator, side: float, up: tuple[float, float]) -> np.ndarray:
    """A unit vector toward the convexity on ``side`` (+1 left, -1 right)."""
    azimuth = rng.uniform(-np.pi / 2 * 0.8, np.pi / 2 * 0.8)
    elevation = rng.uniform(*up)
    d = np.array(
        [
            side * np.cos(elevation) * np.cos(azimuth),
            np.cos(elevation) * np.sin(azimuth),
            np.sin(elevation),
        ]
    )
    return d / np.linalg.norm(d)


def _surface(inner: Ellipsoid, d: np.ndarray) -> np.ndarray:
    """Where the ray from the head's centre along ``d`` leaves the inner table."""
    scale = 1.0 / np.sqrt(sum((d[i] / inner.axes[i]) ** 2 for i in range(3)))
    return d * scale


def _depth(u, v, w, axes) -> np.ndarray:
    """Distance in from the inner table along the ray from the head's centre (mm)."""
    rho = np.sqrt((u / axes[0]) ** 2 + (v / axes[1]) ** 2 + (w / axes[2]) ** 2)
    return np.sqrt(u**2 + v**2 + w**2) * (1.0 / np.maximum(rho, 1e-6) - 1.0)


def _epidural(rng, head: Head, volume: float, side: float) -> Growth:
    d = _direction(rng, side, (-0.3, 0.6))
    mm3 = volume * 1000.0
    # A sphere centred ``distance`` beyond the table cuts a cap of depth h and radius a from it:
    # V ~ pi distance h^2, a ~ sqrt(2 distance h).
    distance = rng.uniform(1.0, 2.2) * mm3 ** (1 / 3)
    h = np.sqrt(mm3 / (np.pi * distance))
    surface = _surface(head.inner, d)
    centre = surface + d * distance

    def priority(u, v, w):
        return np.sqrt((u - centre[0]) ** 2 + (v - centre[1]) ** 2 + (w - centre[2]) ** 2)

    reach = float(np.sqrt(2 * distance * h) + h + 15.0)
    return Growth(
        "epidural",
        _side(side),
        (CSF, BRAIN),
        priority,
        {"sphere_mm": distance},
        box=(surface, reach),
    )


def _subdural(rng, head: Head, volume: float, side: float) -> Growth:
    d = _direction(rng, side, (-0.2, 0.9))
    thick = rng.uniform(3, 6) if rng.random() < 0.4 else rng.uniform(6, 20)
    radius = float(np.mean(head.inner.axes))
    # A crescent thinning linearly with the angle holds ~ 2 pi R^2 t alpha^2 / 6; a wide one is
    # capped at 1.6 rad and made thicker instead.
    mm3 = volume * 1000.0
    alpha = np.sqrt(6 * mm3 / (2 * np.pi * radius**2 * thick))
    if alpha > 1.6:
        alpha = 1.6
        thick = 6 * mm3 / (2 * np.pi * radius**2 * alpha**2)
    axes = head.inner.axes

    def priority(u, v, w):
        r = np.sqrt(u**2 + v**2 + w**2) + 1e-6
        angle = np.arccos(np.clip((u * d[0] + v * d[1] + w * d[2]) / r, -1, 1))
        out = angle / alpha + _depth(u, v, w, axes) / thick
        out[u * side < 0] = np.inf  # the falx stops it at the midline
        return out

    return Growth(
        "subdural",
        _side(side),
        (CSF, BRAIN),
        priority,
        {"thickness_mm": thick},
        shell=3.0 * thick,
    )


def _intraparenchymal(rng, head: Head, volume: float, side: float) -> Growth:
    a, b, c = head.inner.axes
    centre = np.array(
        [side * rng.uniform(10, 0.5 * a), rng.uniform(-0.5, 0.5) * b, rng.uniform(-0.2, 0.5) * c]
    )
    size = (3 * volume * 1000.0 / (4 * np.pi)) ** (1 / 3)
    lobes = []
    for _ in range(int(rng.integers(2, 4))):
        offset = rng.normal(0, 0.35 * size, 3)
        axes = size * rng.uniform(0.6, 1.3, 3)
        lobes.append((centre + offset, axes))

    def priority(u, v, w):
        norms = [
            np.sqrt(((u - o[0]) / s[0]) ** 2 + ((v - o[1]) / s[1]) ** 2 + ((w - o[2]) / s[2]) ** 2)
            for o, s in lobes
        ]
        return np.minimum.reduce(norms)

    rim = rng.uniform(2, 6) / size if rng.random() < 0.5 else 0.0
    return Growth(
        "intraparenchymal",
        _side(side),
        (BRAIN,),
        priority,
        {"oedema": rim},
        box=(centre, 4.0 * size + 15.0),
    )


def _subarachnoid(rng, head: Head, volume: float, side: float) -> Growth:
    d = _direction(rng, side, (-0.1, 1.2))
    seed = _surface(head.inner, d)
    layer = rng.uniform(1.5, 3.0)
    axes = head.inner.axes

    def priority(u, v, w):
        fissure = (np.abs(u) < 1.5) & (w > -10)
        out = np.sqrt((u - seed[0]) ** 2 + (v - seed[1]) ** 2 + (w - seed[2]) ** 2)
        out[~((_depth(u, v, w, axes) < layer) | fissure)] = np.inf
        return out

    return Growth("subarachnoid", _side(side), (CSF, BRAIN), priority, {"layer_mm": layer})


def _intraventricular(rng, head: Head, volume: float, side: float) -> Growth:
    both = rng.random() < 0.5
    cos, sin = np.cos(head.yaw), np.sin(head.yaw)

    def priority(u, v, _w):
        out = -(sin * u + cos * v)  # minus patient y: posterior (dependent) first
        if not both:
            out[u * side < 0] = np.inf
        return out

    side_name = "bilateral" if both else _side(side)
    return Growth("intraventricular", side_name, (VENTRICLE,), priority, {"fill": 0.8})


def _side(side: float) -> str:
    return "left" if side > 0 else "right"  # u grows toward the patient's left (LPS)


_GROWERS = {
    "epidural": _epidural,
    "subdural": _subdural,
    "intraparenchymal": _intraparenchymal,
    "subarachnoid": _subarachnoid,
    "intraventricular": _intraventricular,
}


def _window(growth: Growth, grid: Grid, head: Head) -> tuple[slice, slice, float, float]:
    """Rows and columns around ``growth.box`` (all when none), and its w range."""
    if growth.box is None:
        return slice(None), slice(None), -np.inf, np.inf
    (cu, cv, cw), reach = growth.box
    cos, sin = np.cos(head.yaw), np.sin(head.yaw)
    half = (grid.matrix - 1) / 2.0
    j = (head.centre[0] + cos * cu - sin * cv) / grid.pixel + half
    i = (head.centre[1] + sin * cu + cos * cv) / grid.pixel + half
    r = reach / grid.pixel
    rows = slice(max(0, int(i - r)), max(0, int(i + r) + 1))
    cols = slice(max(0, int(j - r)), max(0, int(j + r) + 1))
    return rows, cols, cw - reach, cw + reach


def _candidates(growth: Growth, grid: Grid, head: Head, labels: np.ndarray):
    """(slice, flat index into the slice, priority) of every voxel the bleed may take."""
    rows, cols, w_low, w_high = _window(growth, grid, head)
    u, v = grid.u[rows, cols], grid.v[rows, cols]
    index = np.arange(grid.matrix * grid.matrix).reshape(grid.matrix, grid.matrix)[rows, cols]
    core = None
    if growth.shell is not None:
        core = Ellipsoid((0.0, 0.0, 0.0), tuple(a - growth.shell for a in head.inner.axes))
        core_q = core.q2d(u, v)
    found = []
    for k, w in enumerate(grid.w):
        if not w_low <= w <= w_high:
            continue
        allowed = np.isin(labels[k][rows, cols], growth.labels)
        if core is not None:
            allowed &= core_q >= core.room(w)
        if allowed.any():
            p = growth.priority(u[allowed], v[allowed], w)
            keep = np.isfinite(p)
            found.append((k, index[allowed][keep], p[keep]))
    return found


def _grow(growth: Growth, grid: Grid, head: Head, labels: np.ndarray, volume: float):
    """Paint the ``volume`` mL of lowest priority as BLOOD (and an oedema rim); (voxels, level)."""
    found = _candidates(growth, grid, head, labels)
    priorities = np.concatenate([p for _, _, p in found]) if found else np.zeros(0)
    # Blood fills at most ``fill`` of what it may take (a ventricle is never full to the brim).
    n = min(round(volume / grid.voxel_ml), int(growth.details.get("fill", 1.0) * priorities.size))
    if n == 0:
        return 0, 0.0
    level = float(np.partition(priorities, n - 1)[n - 1])
    rim = growth.details.get("oedema", 0.0)
    for k, flat, p in found:
        if rim:
            labels[k].flat[flat[(p > level) & (p <= level * (1 + rim))]] = OEDEMA
        labels[k].flat[flat[p <= level]] = BLOOD
    return int(np.count_nonzero(labels == BLOOD)), level


def _bleed(rng: np.random.Generator, head: Head, grid: Grid, labels: np.ndarray):
    """Grow one bleed into ``labels``; (finding, what was drawn for it)."""
    kind = choose(rng, _BLEEDS)
    high = {"subarachnoid": 30.0}.get(kind, 100.0)
    target = log_uniform(rng, 2.0, high)
    side = 1.0 if rng.random() < 0.5 else -1.0
    growth = _GROWERS[kind](rng, head, target, side)
    blood_hu = rng.uniform(50, 90)
    head.hu[BLOOD] = blood_hu
    voxels, level = _grow(growth, grid, head, labels, target)
    finding = {
        "type": kind,
        "side": growth.side,
        "volume_ml": round(voxels * grid.voxel_ml, 3),
        "hu": round(blood_hu, 1),
    }
    if kind == "subdural":
        finding["thickness_mm"] = round(growth.details["thickness_mm"] * level, 1)
    if kind == "epidural":
        finding["thickness_mm"] = round(level - growth.details["sphere_mm"], 1)
    if growth.details.get("oedema"):
        finding["oedema_hu"] = round(float(head.hu[OEDEMA]), 1)
    return finding, {"target_volume_ml": round(target, 3)}


# --------------------------------------------------------------------------------------------


def _hounsfield(labels: np.ndarray, head: Head, rng: np.random.Generator) -> np.ndarray:
    hu = np.empty(labels.shape, np.float32)
    for k in range(labels.shape[0]):
        noise = rng.standard_normal(labels.shape[1:], dtype=np.float32)
        hu[k] = head.hu[labels[k]] + noise * head.sd[labels[k]]
    return hu


def _style(rng: np.random.Generator) -> CtStyle:
    encoding = choose(rng, list(CT_ENCODINGS.values()), (0.35, 0.15, 0.25, 0.10, 0.15))
    windows = choose(rng, (((40.0,), (80.0,)), ((40.0, 600.0), (80.0, 2800.0)), None))
    return CtStyle(
        encoding=encoding,
        kvp=choose(rng, (100.0, 120.0, 140.0)),
        kernel=choose(rng, ("STANDARD", "H31s", "SOFT")),
        windows=windows,
        descending_numbers=bool(rng.random() < 0.3),
        spacing_element=bool(rng.random() < 0.6),
    )


def draw(rng: np.random.Generator, *, positive: bool) -> Drawn:
    """One geometric head CT; the bleed (if ``positive``) is the only difference a flag makes."""
    header_rng, anatomy_rng, finding_rng, noise_rng = rng.spawn(4)
    head = _head(anatomy_rng)
    grid = _grid(anatomy_rng, head)
    labels = _paint(head, grid)
    finding, drawn = _bleed(finding_rng, head, grid, labels) if positive else ({"type": "none"}, {})
    hu = _hounsfield(labels, head, noise_rng)
    half = (grid.matrix - 1) / 2.0 * grid.pixel
    geometry = SliceGeometry(
        origin=(-half, -half, float(grid.z[0])),
        row=(1.0, 0.0, 0.0),
        column=(0.0, 1.0, 0.0),
        pixel_mm=grid.pixel,
        spacing_mm=grid.spacing,
        thickness_mm=grid.thickness,
    )
    style = _style(header_rng)
    salt = "positive" if positive else "negative"
    header = study_header(header_rng, STYLE, salt)
    datasets = ct_series(
        hu, geometry=geometry, style=style, header=header, rng=header_rng, salt=salt
    )
    masks = {"finding": labels == BLOOD} if positive else {}
    parameters = {
        "matrix": grid.matrix,
        "pixel_mm": round(grid.pixel, 4),
        "slices": len(grid.z),
        "spacing_mm": round(grid.spacing, 3),
        "thickness_mm": round(grid.thickness, 3),
        "noise_sd_hu": round(float(head.sd[BRAIN]), 2),
        "brain_hu": round(float(head.hu[BRAIN]), 1),
        "skull_hu": round(float(head.hu[BONE]), 1),
        "yaw_deg": round(float(np.rad2deg(head.yaw)), 2),
        "skull_base": any(label == BASE for label, _ in head.layers),
        "encoding": style.encoding.label,
        **drawn,
    }
    return Drawn(datasets, positive, finding, parameters, masks)
