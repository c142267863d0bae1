"""Chest radiograph family "geometric": ellipses with flat densities plus noise.

How it draws. A PA chest as flat-valued shapes on a density image (0 = air, 1 = bone): a
torso ellipse of soft tissue, two lung ellipses cut from below by diaphragm domes, a tilted
heart ellipse over the left lung's medial part, a mediastinal band above it, a faint spine; in
60 % ribs as elliptical arcs and clavicles as bands. White noise; then a power curve and a
linear scale into the stored range. Lungs carry no vessel markings at all: a pneumothorax is a
more lucent region bounded by a thin bright visceral pleural line, and the lung it collapses is
a little denser.

Parameter ranges (uniform unless said):

- rows 1024, 1152 or 1280 over 380-440 mm (pixel 0.30-0.43 mm); columns 80-100 % of the rows
- densities: background 0.03-0.08, soft tissue 0.50-0.62, lungs 0.15-0.28, heart 0.58-0.70,
  mediastinum 0.55-0.68, spine +0.03-0.07, ribs and clavicles +0.06-0.12
- torso half-width 140-180 mm; lungs 55-75 mm wide (the left 90 % of the right) and 110-140
  mm tall (semi-axes), 40-60 mm off the midline; diaphragm domes 15-30 mm high, the right
  5-20 mm higher; heart 55-75 x 45-60 mm, 15-35 mm left of the midline, tilted 20-40 degrees
- noise sd 0.005-0.03 (density units); gamma 0.8-1.25; 60-95 % of the stored range used
- storage: DX (60 %) or CR; MONOCHROME2 (60 %) or MONOCHROME1; 12 (60 %) or 16 stored bits;
  a header window in half

Positives (left or right, 50/50), one of three patterns, each a region of the lung between
its outline and a pleural line, 0.04-0.12 less dense than the lung, its line 1-2 mm wide at
+0.06-0.12, the collapsed lung +0.02-0.06 denser:

- apical (35 %): the lung's top lowered by 8-35 mm
- lateral (35 %): its outer edge moved in by 6-30 mm
- large (30 %): the lung shrunk toward the hilum to 35-75 % of its size
"""

from __future__ import annotations

from dataclasses import dataclass

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
    "PA chest drawn as flat-valued ellipses on a density image: torso, lungs cut by diaphragm "
    "domes, tilted heart, mediastinal band, faint spine, in 60 % rib arcs and clavicle bands, "
    "no lung markings; 1024-1280 rows over 380-440 mm; white noise sd 0.005-0.03; gamma "
    "0.8-1.25; DX or CR, MONOCHROME2 or MONOCHROME1, 12 or 16 bits, a header window in half. "
    "Positives (left or right): an apical cap (apex down 8-35 mm), a lateral rim (6-30 mm) or "
    "a large collapse (lung at 35-75 % of its size), 0.04-0.12 less dense than lung, with a "
    "1-2 mm bright pleural line and a slightly denser collapsed lung."
)

STYLE = StudyStyle(
    modality="DX",
    body_part="CHEST",
    descriptions=("CHEST PA", "XR CHEST 1 VIEW", "CHEST PA AND LATERAL", "THORAX PA"),
    bare_descriptions=("CHEST PA", "XR CHEST", "CHEST 1V"),
    series_descriptions=("PA", "CHEST PA", "Thorax p.a."),
    manufacturers=(("Carestream Health", "DRX-Evolution"), ("SIEMENS", "Ysio Max")),
)


@dataclass(frozen=True)
class Ellipse:
    """Centre (x, y) and semi-axes (mm, x to the image right = the patient's left, y down),
    turned by ``angle`` radians."""

    cx: float
    cy: float
    ax: float
    ay: float
    angle: float = 0.0

    def q(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The normalised radius squared: < 1 inside."""
        c, s = np.float32(np.cos(self.angle)), np.float32(np.sin(self.angle))
        dx, dy = x - np.float32(self.cx), y - np.float32(self.cy)
        return ((c * dx + s * dy) / self.ax) ** 2 + ((c * dy - s * dx) / self.ay) ** 2

    def inside(self, x, y) -> np.ndarray:
        return self.q(x, y) < 1


@dataclass
class Chest:
    torso: Ellipse
    lungs: dict[str, Ellipse]  # "right" (image left), "left"
    domes: dict[str, Ellipse]  # below the diaphragm
    heart: Ellipse
    mediastinum: tuple[float, float, float]  # centre x, half-width, bottom y
    spine: float  # half-width
    ribs: list[Ellipse]
    rib_width: float
    clavicles: list[tuple[float, float, float, float]]  # x0, y0, x1, y1
    density: dict[str, float]


def _chest(rng: np.random.Generator) -> Chest:
    lung_w, lung_h = rng.uniform(55, 75), rng.uniform(110, 140)
    off, top = rng.uniform(40, 60), rng.uniform(-35, 0)
    lungs = {
        "right": Ellipse(-off - lung_w * 0.4, top, lung_w, lung_h),
        "left": Ellipse(off + lung_w * 0.35, top + rng.uniform(3, 10), 0.9 * lung_w, lung_h),
    }
    dome_y = top + lung_h * rng.uniform(0.55, 0.75)
    height = rng.uniform(15, 30)
    domes = {}
    for side, lung in lungs.items():
        lift = rng.uniform(5, 20) if side == "right" else 0.0
        domes[side] = Ellipse(lung.cx, dome_y + height - lift, lung.ax * 1.6, height * 1.0 + 0.01)
    heart = Ellipse(
        rng.uniform(15, 35),
        dome_y - rng.uniform(15, 40),
        rng.uniform(55, 75),
        rng.uniform(45, 60),
        np.deg2rad(rng.uniform(20, 40)),
    )
    ribs = []
    if rng.random() < 0.6:
        for side in (-1.0, 1.0):
            for k in range(9):
                y = top - lung_h * 0.9 + k * lung_h * 0.17
                ribs.append(Ellipse(side * 10, y + 40, rng.uniform(120, 150), 45, side * 0.25))
    clavicles = []
    torso = rng.uniform(140, 180)
    if rng.random() < 0.6:
        y = top - lung_h * rng.uniform(0.75, 0.9)
        end = torso - 25
        clavicles = [(side * 15, y, side * end, y - rng.uniform(10, 25)) for side in (-1, 1)]
    density = {
        "background": rng.uniform(0.03, 0.08),
        "soft": rng.uniform(0.50, 0.62),
        "lung": rng.uniform(0.15, 0.28),
        "heart": rng.uniform(0.58, 0.70),
        "mediastinum": rng.uniform(0.55, 0.68),
        "spine": rng.uniform(0.03, 0.07),
        "bone": rng.uniform(0.06, 0.12),
    }
    return Chest(
        torso=Ellipse(0.0, top + 60, torso, 400.0),
        lungs=lungs,
        domes=domes,
        heart=heart,
        mediastinum=(rng.uniform(-5, 8), rng.uniform(22, 32), heart.cy),
        spine=rng.uniform(15, 20),
        ribs=ribs,
        rib_width=rng.uniform(6, 10),
        clavicles=clavicles,
        density=density,
    )


@dataclass(frozen=True)
class Pneumothorax:
    side: str
    pattern: str
    pleura: Ellipse  # the collapsed lung's outline: the pleural line
    size_mm: float  # how far the line is from the chest wall at most
    lucency: float
    line: float  # pleural line density
    line_mm: float
    denser: float  # the collapsed lung


def _pneumothorax(rng: np.random.Generator, chest: Chest) -> Pneumothorax:
    side = choose(rng, ("right", "left"))
    lung = chest.lungs[side]
    outward = -1.0 if side == "right" else 1.0  # toward the chest wall, image x
    pattern = choose(rng, ("apical", "lateral", "large"), (0.35, 0.35, 0.3))
    if pattern == "apical":
        d = rng.uniform(8, 35)
        pleura = Ellipse(lung.cx, lung.cy + d / 2, lung.ax, lung.ay - d / 2)
    elif pattern == "lateral":
        d = rng.uniform(6, 30)
        pleura = Ellipse(lung.cx - outward * d / 2, lung.cy, lung.ax - d / 2, lung.ay)
    else:
        f = rng.uniform(0.35, 0.75)
        hilum = (lung.cx - outward * 0.5 * lung.ax, lung.cy + 0.2 * lung.ay)
        pleura = Ellipse(
            hilum[0] + f * (lung.cx - hilum[0]),
            hilum[1] + f * (lung.cy - hilum[1]),
            f * lung.ax,
            f * lung.ay,
        )
        d = (1 - f) * lung.ax * 1.5
    return Pneumothorax(
        side,
        pattern,
        pleura,
        d,
        rng.uniform(0.04, 0.12),
        rng.uniform(0.06, 0.12),
        rng.uniform(1.0, 2.0),
        rng.uniform(0.02, 0.06),
    )


def _lung(chest: Chest, side: str, x, y) -> np.ndarray:
    dome = chest.domes[side]
    return chest.lungs[side].inside(x, y) & ~dome.inside(x, y) & (y < dome.cy)


def _paint(chest: Chest, x: np.ndarray, y: np.ndarray, ptx: Pneumothorax | None):
    """The density image, and (pneumothorax, remaining lung) masks on its side."""
    d = chest.density
    image = np.full(np.broadcast(x, y).shape, d["background"], np.float32)
    image[chest.torso.inside(x, y)] = d["soft"]
    masks = {}
    for side in ("right", "left"):
        lung = _lung(chest, side, x, y)
        image[lung] = d["lung"]
        if ptx is not None and ptx.side == side:
            masks = _collapse(image, lung, ptx, x, y, d["lung"])
    cx, half, bottom = chest.mediastinum
    mediastinum = (np.abs(x - cx) < half) & (y < bottom)
    heart = chest.heart.inside(x, y)
    image[mediastinum] = d["mediastinum"]
    image[heart] = d["heart"]
    masks = {name: mask & ~mediastinum & ~heart for name, mask in masks.items()}
    image += d["spine"] * (np.abs(x) < chest.spine)
    for rib in chest.ribs:
        q = rib.q(x, y)
        band = np.abs(np.sqrt(q) - 1) * min(rib.ax, rib.ay) < chest.rib_width / 2
        image += d["bone"] * (band & (np.sign(x) == np.sign(rib.cx)) & (y < rib.cy))
    for x0, y0, x1, y1 in chest.clavicles:
        image += d["bone"] * _segment(x, y, (x0, y0, x1, y1), 7.0)
    return image, masks


def _collapse(image, lung, ptx: Pneumothorax, x, y, lung_density: float) -> dict:
    q = ptx.pleura.q(x, y)
    kept = lung & (q < 1)
    air = lung & ~kept
    image[air] = lung_density - ptx.lucency
    image[kept] = lung_density + ptx.denser
    # The visceral pleura: a thin line just inside the collapsed lung's outline.
    width = ptx.line_mm / min(ptx.pleura.ax, ptx.pleura.ay)
    line = kept & (np.sqrt(q) > 1 - width)
    image[line] += ptx.line
    return {"finding": air, "lung": kept}


def _segment(x, y, seg, half: float) -> np.ndarray:
    x0, y0, x1, y1 = seg
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((x - x0) * dx + (y - y0) * dy) / (dx * dx + dy * dy), 0, 1)
    return np.hypot(x - x0 - t * dx, y - y0 - t * dy) < half


def _style(rng: np.random.Generator, pixel: float) -> RadiographStyle:
    modality = "DX" if rng.random() < 0.6 else "CR"
    return RadiographStyle(
        modality=modality,
        photometric="MONOCHROME2" if rng.random() < 0.6 else "MONOCHROME1",
        bits=12 if rng.random() < 0.6 else 16,
        pixel_mm=pixel,
        window=None,
        view="PA",
        rescale=modality == "DX" and rng.random() < 0.5,
    )


def _store(image: np.ndarray, style: RadiographStyle, rng: np.random.Generator):
    """Stored values and a header window (in half the studies) for a density image."""
    gamma = rng.uniform(0.8, 1.25)
    used = rng.uniform(0.6, 0.95)
    top = (1 << style.bits) - 1
    low = rng.uniform(0, 1 - used) * top
    shown = np.clip(image, 0, 1) ** np.float32(gamma)
    if style.photometric == "MONOCHROME1":
        shown = 1 - shown
    stored = np.rint(low + shown * np.float32(used * top)).astype(np.uint16)
    window = None
    if rng.random() < 0.5:
        # Around the lungs-to-mediastinum range of this exposure.
        ends = np.array([0.08, 0.75]) ** gamma
        values = low + (1 - ends if style.photometric == "MONOCHROME1" else ends) * used * top
        window = (float(values.mean()), float(abs(values[1] - values[0])))
    return stored, window


def draw(rng: np.random.Generator, *, positive: bool) -> Drawn:
    """One geometric chest radiograph; the pneumothorax (if ``positive``) is the only
    difference the flag makes."""
    header_rng, anatomy_rng, finding_rng, noise_rng = rng.spawn(4)
    chest = _chest(anatomy_rng)
    rows = int(choose(anatomy_rng, (1024, 1152, 1280)))
    cols = int(rows * anatomy_rng.uniform(0.8, 1.0))
    pixel = anatomy_rng.uniform(380, 440) / rows
    noise = anatomy_rng.uniform(0.005, 0.03)
    y = ((np.arange(rows, dtype=np.float32) - (rows - 1) / 2) * np.float32(pixel))[:, None]
    x = ((np.arange(cols, dtype=np.float32) - (cols - 1) / 2) * np.float32(pixel))[None, :]
    ptx = _pneumothorax(finding_rng, chest) if positive else None
    image, masks = _paint(chest, x, y, ptx)
    image += noise_rng.standard_normal(image.shape, dtype=np.float32) * np.float32(noise)
    style = _style(header_rng, pixel)
    stored, window = _store(image, style, header_rng)
    style = RadiographStyle(**{**style.__dict__, "window": window})
    salt = "positive" if positive else "negative"
    header = study_header(header_rng, STYLE, salt)
    header["Modality"] = style.modality
    ds = radiograph(stored, style=style, header=header, rng=header_rng, salt=salt)
    finding = {"type": "none"}
    if ptx is not None:
        area = masks["finding"].sum() / (masks["finding"].sum() + masks["lung"].sum())
        finding = {
            "type": "pneumothorax",
            "side": ptx.side,
            "pattern": ptx.pattern,
            "area_fraction": round(float(area), 4),
            "rim_mm": round(ptx.size_mm, 1),
            "contrast": round(ptx.lucency, 3),
        }
    parameters = {
        "rows": rows,
        "columns": cols,
        "pixel_mm": round(pixel, 4),
        "noise_sd": round(noise, 4),
        "ribs": bool(chest.ribs),
        "modality": style.modality,
        "photometric": style.photometric,
        "bits": style.bits,
        "window": window is not None,
    }
    return Drawn([ds], positive, finding, parameters, masks)
