"""PA chest radiograph phantoms for training the pneumothorax model, randomised wide. Numpy only.

The model is judged on radiographs drawn by other hands, so every phantom draws its own chest:
torso and lung shapes (the lungs' edges anywhere from a soft ramp to a hard line), size and
position, heart and mediastinum, diaphragm, ribs (or none), clavicles, scapular edges, breast
shadows, lung markings (none in half the films, as a cartoon draws them; else from faint to
dense branching vessels), lungs darker toward the bases, on one side or in patches, skin
folds and chest tubes (lines that are not a pleural edge), collimation, an L/R marker; and its
own detector (an exposure curve, noise, blur, a matrix).

A positive adds a pneumothorax on one side: an apical cap, a lateral rim or a large one with
the lung collapsed toward the hilum, from a centimetre to most of the hemithorax. Inside it
there are no lung markings and the film is darker (more lucent) than lung; at its edge, the
visceral pleura is a thin white line, drawn or not (cartoons leave it out).

The image is ``density`` in [0, 1], bright = dense, as ``preprocess.presentation`` shows any
radiograph after its VOI and MONOCHROME1 handling; ``detector`` turns it into stored values
and a header the way a CR or DX writes them, so training goes through the same presentation
code as a hospital's DICOM.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from triage.core.phantoms.fields import box_blur, log_uniform, smooth_field

PNEUMOTHORAX_KINDS = ("apical", "lateral", "large")
MATRICES = (256, 320, 384, 512)


@dataclass
class ChestPhantom:
    density: np.ndarray  # (rows, cols) float32, bright = dense, roughly 0..1
    mask: np.ndarray  # bool: the pneumothorax
    info: dict = field(default_factory=dict)


@dataclass
class Detector:
    """What a CR/DX writes: stored values and the header fields presentation reads."""

    stored: np.ndarray  # uint16
    bits_stored: int
    monochrome1: bool
    window: tuple[float, float] | None  # (center, width) in stored values, or none in header


def _grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    c = (np.arange(n, dtype=np.float32) + 0.5) / n * 2.0 - 1.0
    return c[None, :].repeat(n, 0), c[:, None].repeat(n, 1)  # x right, y down, in [-1, 1]


def _superellipse(x, y, cx, cy, ax, ay, p=2.0) -> np.ndarray:
    return np.abs((x - cx) / ax) ** p + np.abs((y - cy) / ay) ** p


def _soft(inside_distance: np.ndarray, edge: float) -> np.ndarray:
    """0 outside, 1 well inside, a smooth ramp of width ``edge`` at the border (value 1)."""
    return np.clip((1.0 - inside_distance) / max(edge, 1e-3), 0.0, 1.0).astype(np.float32)


@dataclass
class _Chest:
    x: np.ndarray
    y: np.ndarray
    body: np.ndarray
    lungs: list[np.ndarray]  # per side (image left = patient right first), soft 0..1
    depths: list[np.ndarray]  # per side: 0 at the lung's outline, rising to 1 at its middle
    lung_params: list[tuple[float, float, float, float]]  # cx, cy, ax, ay
    hila: list[tuple[float, float]]


def _anatomy(rng, n: int) -> tuple[_Chest, dict]:
    x, y = _grid(n)
    # Most films show air beside the body; in a third the film is framed close (a large
    # patient, a portable cassette, tight collimation) and the body fills it edge to edge, so
    # the lungs are the darkest thing on the film and nothing marks where "air" is.
    close = rng.uniform() < 0.35
    zoom = rng.uniform(1.08, 1.35) if close else rng.uniform(0.78, 1.08)
    sx, sy = rng.normal(0, 0.04, size=2)
    x = (x - sx) / zoom
    y = (y - sy) / zoom
    body_w = rng.uniform(0.95, 1.15) if close else rng.uniform(0.72, 0.95)
    body = _soft(_superellipse(x, y, 0.0, 0.25, body_w, 1.1, rng.uniform(2.2, 3.5)), 0.08)
    neck = _soft(_superellipse(x, y, 0.0, -0.95, rng.uniform(0.16, 0.24), 0.3), 0.1)
    body = np.maximum(body, neck)
    lungs, depths, params, hila = [], [], [], []
    # How sharply a lung meets the chest wall: a soft ramp (thick tissue, a blurred film) or a
    # hard edge (a thin patient, edge enhancement, a cartoon). A pneumothorax's space is drawn
    # hard-edged; if normal lungs never were, a hard edge alone would read as one.
    edge = log_uniform(rng, 0.01, 0.15)
    spread = rng.uniform(0.3, 0.42)
    top = rng.uniform(-0.78, -0.6)
    bottom = rng.uniform(0.35, 0.62)
    for side in (-1.0, 1.0):
        ax = rng.uniform(0.2, 0.3) * (0.92 if side > 0 else 1.0)
        cy = (top + bottom) / 2.0
        ay = (bottom - top) / 2.0
        cx = side * (spread + rng.normal(0, 0.02))
        shape = _superellipse(x, y, cx, cy, ax, ay, rng.uniform(1.8, 2.6))
        # Lungs are narrow at the apex, wide at the base: shear the shape by height.
        widen = 1.0 + 0.35 * np.clip((y - cy) / ay, -1, 1)
        shape = _superellipse(x, y, cx + side * 0.05 * (y - cy), cy, ax * widen, ay, 2.2)
        lungs.append(_soft(shape, edge))
        depths.append(np.clip(1.0 - shape, 0.0, 1.0))
        params.append((cx, cy, ax, ay))
        hila.append((cx - side * ax * 0.55, cy - 0.1 * ay))
    return _Chest(x, y, body, lungs, depths, params, hila), {"zoom": zoom, "close": close}


def _markings(rng, chest: _Chest, n: int, strength: float) -> np.ndarray:
    """Vessels branching from each hilum, fading toward the periphery.

    In many films (and in real lungs) they stop short of the pleura: a rim of lung without
    markings, in normal films as in those with a pneumothorax. Without it a model learns that
    a clear rim is the finding, and flags every film drawn that way.
    """
    if strength <= 0:
        return np.zeros((n, n), np.float32)
    rim = rng.uniform(0.0, 0.35) if rng.uniform() < 0.6 else 0.0
    ridges = np.abs(smooth_field(rng, (n, n), (n / 14.0, n / 14.0)))
    fine = np.abs(smooth_field(rng, (n, n), (n / 30.0, n / 30.0)))
    lines = np.clip(1.0 - ridges / 0.12, 0, 1) + 0.6 * np.clip(1.0 - fine / 0.1, 0, 1)
    out = np.zeros((n, n), np.float32)
    for lung, depth, (hx, hy) in zip(chest.lungs, chest.depths, chest.hila, strict=True):
        distance = np.sqrt((chest.x - hx) ** 2 + (chest.y - hy) ** 2)
        fade = np.exp(-distance / rng.uniform(0.18, 0.35))
        if rim > 0:
            fade = fade * np.clip(depth / rim - 0.5, 0.0, 1.0)
        out += lung * lines * fade
    return out * strength


def _lucency(rng, chest: _Chest, n: int) -> np.ndarray | float:
    """How dark each part of the lungs is, as a factor of the film's lung level (about 1).

    Real lungs are not evenly lucent: an erect film's bases hold more lung than its apices, one
    side reads darker after a rotation, a mastectomy or a hyperinflated lobe, and lucency
    wanders across a lung. If only a pneumothorax ever made part of a lung darker than the
    rest, any darker region would read as one; the finding is a region darker, clear of
    markings and bounded by the pleura's edge.
    """
    if rng.uniform() < 0.3:
        return 1.0
    base = rng.uniform(-0.2, 0.6) * chest.y  # y runs down: positive = bases darker
    side = np.where(chest.x < 0.0, 1.0, -1.0) * rng.uniform(-0.3, 0.3)
    patches = smooth_field(rng, (n, n), (n / 6.0, n / 6.0)) * rng.uniform(0.0, 0.25)
    return np.clip(1.0 + base + side + patches, 0.5, 1.6).astype(np.float32)


def _ribs(rng, chest: _Chest, n: int) -> np.ndarray:
    out = np.zeros((n, n), np.float32)
    if rng.uniform() < 0.2:
        return out
    count = int(rng.integers(8, 12))
    top = min(p[1] - p[3] for p in chest.lung_params) - 0.05
    gap = rng.uniform(0.09, 0.13)
    width = gap * rng.uniform(0.3, 0.45)
    for side in (-1.0, 1.0):
        for k in range(count):
            y0 = top + k * gap
            # A posterior rib: an arc from the spine, sweeping out and down.
            curve = (
                y0
                + 0.35 * (side * chest.x) ** 2 * rng.uniform(0.8, 1.2)
                - 0.1 * side * chest.x * side
            )
            band = np.abs(chest.y - curve) < width
            out += (band & (side * chest.x > 0.02) & (side * chest.x < 0.8)) * rng.uniform(
                0.07, 0.16
            )
    return box_blur(out, max(1, n // 256))


def _pleural_line_and_mask(
    rng, chest: _Chest, side_index: int, kind: str
) -> tuple[np.ndarray, np.ndarray, float]:
    """(pneumothorax mask, lung remaining 0..1, line position field) for one side."""
    lung = chest.lungs[side_index]
    cx, cy, ax, ay = chest.lung_params[side_index]
    side = -1.0 if side_index == 0 else 1.0
    inside = lung > 0.5
    if kind == "apical":
        level = cy - ay + rng.uniform(0.08, 0.45) * ay
        remaining = _soft(
            _superellipse(chest.x, chest.y, cx, level + ay * 0.9, ax * 1.2, ay * 0.95, 2.0), 0.04
        )
        # The line curves down toward the lateral wall.
        ptx = inside & (chest.y < level + 0.35 * np.abs(chest.x - cx) * rng.uniform(0.0, 1.2))
    elif kind == "lateral":
        rim = rng.uniform(0.04, 0.35) * ax
        shrink = _superellipse(chest.x + side * rim, chest.y + rim * 0.5, cx, cy, ax, ay, 2.2)
        remaining = _soft(shrink, 0.05)
        ptx = inside & (remaining < 0.5)
    else:
        factor = rng.uniform(0.35, 0.7)
        hx, hy = chest.hila[side_index]
        shrunk = _superellipse(
            chest.x, chest.y, hx + side * ax * 0.2 * factor, hy, ax * factor, ay * factor, 2.0
        )
        remaining = _soft(shrunk, 0.06)
        ptx = inside & (remaining < 0.5)
    return ptx, remaining, 0.0


def _pneumothorax(
    rng, chest: _Chest, lung_density: np.ndarray, markings: np.ndarray, n: int, lung_level: float
):
    side_index = int(rng.integers(0, 2))
    kind = str(rng.choice(PNEUMOTHORAX_KINDS, p=[0.35, 0.4, 0.25]))
    ptx, _, _ = _pleural_line_and_mask(rng, chest, side_index, kind)
    if ptx.sum() < 0.0005 * n * n:
        return None
    # No lung behind: no markings, and air where lung tissue was in the beam, so the space is
    # darker than the darkest lung by a share of what lung tissue adds over air (the lung's
    # own level: the chest wall in front and behind stays), however the lung is shaded where
    # the space lies. A fixed small drop (version 1 drew 0.02-0.12 whatever the lung) left many
    # positives below the noise: labels the image does not show teach a model to flag
    # texture, which is what other hands change.
    markings[ptx] = 0.0
    deepest = float(lung_density.min())  # the lung where it is thickest
    lung_density[ptx] = deepest - lung_level * rng.uniform(0.25, 0.6)
    line = np.zeros((n, n), np.float32)
    if rng.uniform() < 0.8:
        edge = box_blur(ptx.astype(np.float32), max(1, n // 300))
        border = (edge > 0.15) & (edge < 0.85) & ~ptx
        line[border] = rng.uniform(0.04, 0.15)
    info = {"side": "right" if side_index == 0 else "left", "kind": kind, "area": float(ptx.mean())}
    return ptx, line, info


def _confounders(rng, chest: _Chest, n: int) -> tuple[np.ndarray, list[str]]:
    out = np.zeros((n, n), np.float32)
    drawn = []
    if rng.uniform() < 0.3:
        # A skin fold: a long edge across a lung, denser on one side.
        angle = rng.uniform(-1.2, 1.2)
        offset = rng.uniform(-0.5, 0.5)
        d = chest.x * np.cos(angle) + chest.y * np.sin(angle) - offset
        out += (d > 0) * (d < rng.uniform(0.05, 0.2)) * rng.uniform(0.02, 0.06)
        drawn.append("skin fold")
    if rng.uniform() < 0.4:
        for side in (-1.0, 1.0):
            cx, cy, ax, ay = chest.lung_params[0 if side < 0 else 1]
            edge = (
                np.abs(
                    _superellipse(
                        chest.x, chest.y, cx + side * ax * 0.7, cy - 0.3 * ay, ax * 0.5, ay * 0.5
                    )
                    - 1.0
                )
                < 0.04
            )
            out += edge * rng.uniform(0.03, 0.08)
        drawn.append("scapular edges")
    if rng.uniform() < 0.2:
        tube = np.zeros((n, n), np.float32)
        x0, y0 = rng.uniform(-0.8, 0.8), rng.uniform(0.1, 0.6)
        x1, y1 = x0 * rng.uniform(0.3, 0.7), rng.uniform(-0.6, -0.1)
        t = np.linspace(0, 1, 4 * n)
        xs = ((x0 + (x1 - x0) * t + 1) / 2 * n).astype(int).clip(0, n - 1)
        ys = ((y0 + (y1 - y0) * t + 0.05 * np.sin(t * 6) + 1) / 2 * n).astype(int).clip(0, n - 1)
        tube[ys, xs] = 1.0
        out += box_blur(tube, max(1, n // 200)) * rng.uniform(0.2, 0.6)
        drawn.append("chest tube")
    if rng.uniform() < 0.3:
        for side in (-1.0, 1.0):
            cx, cy, ax, ay = chest.lung_params[0 if side < 0 else 1]
            breast = _soft(
                _superellipse(
                    chest.x, chest.y, cx + side * 0.05, cy + 0.55 * ay, ax * 1.1, ay * 0.4
                ),
                0.3,
            )
            out += breast * rng.uniform(0.03, 0.08)
        drawn.append("breast shadows")
    return out, drawn


def chest_xr_phantom(rng: np.random.Generator, *, positive: bool) -> ChestPhantom:
    """One randomised PA chest radiograph (density, bright = dense) and its pneumothorax mask."""
    while True:
        phantom = _chest(rng, positive=positive)
        if phantom is not None:
            return phantom


def _chest(rng: np.random.Generator, *, positive: bool) -> ChestPhantom | None:
    n = int(rng.choice(MATRICES))
    chest, info = _anatomy(rng, n)
    soft = rng.uniform(0.45, 0.75)
    density = chest.body * soft
    lung_sum = np.clip(chest.lungs[0] + chest.lungs[1], 0, 1)
    # Lung is darker than soft tissue but never as dark as the air beside the body: a lung at
    # zero leaves a pneumothorax nothing to be more lucent than (the clip below erased it, and
    # the label then named what the image did not show).
    lung_depth = min(rng.uniform(0.25, 0.5), soft - rng.uniform(0.08, 0.2))
    # How the lung darkens toward its middle: evenly (a flat field, as cartoons draw it) or
    # most where it is thickest, fading to soft tissue at its outline (as films show it).
    profile = rng.uniform(0.0, 0.8) if rng.uniform() < 0.6 else 0.0
    if profile > 0:
        shaded = zip(chest.lungs, chest.depths, strict=True)
        lung_sum = np.clip(sum(lung * depth**profile for lung, depth in shaded), 0, 1)
    lung_density = -lung_depth * lung_sum * _lucency(rng, chest, n)
    # Half the films, normal or not, have no lung markings at all (as cartoons draw them): a
    # pneumothorax's want of markings is then no cue by itself, only with the space's own
    # darkness and edge. With one film in five unmarked, the model read most unmarked lungs as
    # collapsed (README, chest try 15).
    detail = rng.uniform()
    markings = _markings(rng, chest, n, rng.uniform(0.02, 0.3) if detail > 0.5 else 0.0)
    mask = np.zeros((n, n), bool)
    line = np.zeros((n, n), np.float32)
    if positive:
        drawn = _pneumothorax(rng, chest, lung_density, markings, n, soft - lung_depth)
        if drawn is None:
            return None
        mask, line, info["pneumothorax"] = drawn
    density = density + lung_density + markings + line
    # Heart and mediastinum over the lungs, the spine through them.
    heart = _soft(
        _superellipse(
            chest.x,
            chest.y,
            rng.uniform(0.02, 0.12),
            rng.uniform(0.15, 0.3),
            rng.uniform(0.2, 0.3),
            rng.uniform(0.16, 0.24),
        ),
        0.08,
    )
    mediastinum = _soft(
        _superellipse(chest.x, chest.y, 0.0, -0.2, rng.uniform(0.08, 0.14), 0.6, 4.0), 0.1
    )
    density = np.maximum(density, (np.maximum(heart, mediastinum) * soft * rng.uniform(0.85, 1.05)))
    diaphragm = (chest.y > max(p[1] + p[3] for p in chest.lung_params) - 0.02) * chest.body * soft
    density = np.maximum(density, diaphragm)
    if detail > 0.15:
        density += _ribs(rng, chest, n)
        density += (
            (np.abs(chest.x) < rng.uniform(0.05, 0.08)) * chest.body * rng.uniform(0.05, 0.15)
        )
    extra, confounders = _confounders(rng, chest, n)
    density += extra
    density = np.clip(density, 0.0, None).astype(np.float32)
    info.update({"matrix": n, "detail": round(detail, 2), "confounders": confounders})
    # Where lung and soft tissue lie on the density scale: a vendor's tone curve is set from
    # the exposure's anatomy, not from the pixels (see ``detector``).
    info["levels"] = (float(soft - lung_depth), float(soft))
    return ChestPhantom(density=density, mask=mask, info=info)


# The share of training films drawn in the demo hospitals' look (``demo_look_phantom``).
DEMO_LOOK_SHARE = 0.3


def demo_look_phantom(rng: np.random.Generator, *, positive: bool) -> ChestPhantom:
    """A chest in the demo simulator's own default look, for a share of the training films.

    Version 1 learnt only this look and is near perfect on it; every try of version 2 drawn
    from ``chest_xr_phantom`` alone lost the simulator's faint pneumothoraces (AUC 0.63), and
    those are the films the demo hospitals send. So version 2 learns the look as version 1 did,
    at ``Appearance()`` only: the simulator's validation half in ``Appearance.shifted()`` (more
    noise, fainter and smaller lesions) stays unseen, and the card says that the simulator
    family is half in this training look. The density goes through ``detector`` like every
    other film, so even this look reaches the model under every tone curve and noise level.
    """
    # Imported here: the simulator (and pydicom with it) is needed only when training draws.
    from simulator.synthetic import chest_image

    n = int(rng.choice((256, 384, 512)))
    side = "right" if rng.uniform() < 0.5 else "left"
    drawn = chest_image(rng, size=n, pneumothorax=positive, side=side)
    info = {"matrix": n, "look": "demo simulator"}
    if positive:
        info["pneumothorax"] = {"kind": "apical-lateral", "side": side}
    return ChestPhantom(density=drawn.image.astype(np.float32), mask=drawn.mask, info=info)


def _lead_marker(rng: np.random.Generator, image: np.ndarray) -> None:
    """An L or R lead marker (dense, with sharp edges) near a corner, as most films have."""
    if rng.uniform() < 0.25:
        return
    n = image.shape[0]
    size = max(4, int(rng.uniform(0.025, 0.05) * n))
    y = int(rng.uniform(0.03, 0.2) * n)
    x = (
        int(rng.uniform(0.03, 0.2) * n)
        if rng.uniform() < 0.5
        else n - size - int(rng.uniform(0.03, 0.2) * n)
    )
    stroke = max(1, size // 5)
    glyph = np.zeros((size, size), bool)
    glyph[:, :stroke] = True  # the upright both letters share
    if rng.uniform() < 0.5:
        glyph[-stroke:, :] = True  # L
    else:
        glyph[: size // 2, -stroke:] = True  # R: a bowl and a leg
        glyph[:stroke, :] = glyph[size // 2 - stroke : size // 2, :] = True
        for k in range(size // 2, size):
            glyph[k, min(size - 1, k - size // 2 + stroke) : k - size // 2 + 2 * stroke] = True
    image[y : y + size, x : x + size][glyph] = rng.uniform(0.9, 1.1)


def detector(
    rng: np.random.Generator, density: np.ndarray, levels: tuple[float, float] | None = None
) -> Detector:
    """Stored values as a CR or DX would write this density, noise and blur included.

    ``levels`` (lung, soft tissue on the density scale) let the tone curve be a vendor's
    S-shaped one, centred between them: lungs then sit low on its toe, near black, and what is
    darker still (a pneumothorax, the air beside the body) is squeezed toward black with them.
    Without levels, or in the other films, the curve is a power.
    """
    n = density.shape[0]
    image = box_blur(density, int(rng.integers(0, 2 + n // 400)))
    if levels is not None and rng.uniform() < 0.4:
        lung, soft = levels
        span = max(soft - lung, 1e-3)
        center = lung + rng.uniform(0.0, 0.7) * span
        image = 1.0 / (1.0 + np.exp(-(image - center) / (span * rng.uniform(0.15, 0.5))))
        image = (image - float(image.min())) / max(float(np.ptp(image)), 1e-6)
    else:
        gamma = log_uniform(rng, 0.6, 1.7)
        image = np.clip(image, 0.0, None) ** gamma
        image = image / max(float(image.max()), 1e-6)
    if rng.uniform() < 0.5:
        # A vendor's edge enhancement (unsharp masking): every edge gets a bright and a dark
        # rim, the body's outline and the ribs' as much as a pleural line.
        radius = int(rng.integers(2, 3 + n // 64))
        image = image + rng.uniform(0.3, 1.5) * (image - box_blur(image, radius))
    noise = log_uniform(rng, 0.002, 0.04)
    image = image + rng.normal(0.0, noise, image.shape).astype(np.float32)
    _lead_marker(rng, image)
    if rng.uniform() < 0.6:
        # Collimation: the unexposed margins read as dense, on any of the four sides (the
        # edge between them and the air beside the body is a long straight bright line).
        for side in range(4):
            if rng.uniform() < 0.7:
                m = int(rng.uniform(0.01, 0.1) * n)
                view = np.rot90(image, side)
                view[:m] = rng.uniform(0.85, 1.0)
    bits = int(rng.choice([10, 12, 14, 16]))
    top = 2**bits - 1
    lo, hi = rng.uniform(0.0, 0.1) * top, rng.uniform(0.6, 1.0) * top
    stored = lo + np.clip(image, 0.0, 1.1) / 1.1 * (hi - lo)
    monochrome1 = bool(rng.uniform() < 0.45)
    if monochrome1:
        stored = top - stored
    window = None
    if rng.uniform() < 0.6:
        p_lo, p_hi = np.percentile(stored, [rng.uniform(0.2, 3.0), rng.uniform(97.0, 99.8)])
        window = ((p_lo + p_hi) / 2.0, max(p_hi - p_lo, 1.0))
    return Detector(np.clip(stored, 0, top).astype(np.uint16), bits, monochrome1, window)
