"""Head CT family "scanner": textured anatomy, skull base, normal hyperdensities, scanner effects.

How it draws. A head in its own frame (u left, v posterior, w up, mm) is posed in the scanner
(yaw, pitch, roll, off-centre) and cut by the scanner's slice planes, gantry-tilted or not
(a tilted scan steps along the table, so its slices are sheared, as scanners write them). Each
slice is rendered on a grid of at most 256 x 256 pixels and, for thick slices, as the mean of
two planes across its thickness (partial volume), then brought to the delivered matrix by
linear interpolation. The head: an egg-shaped outer surface with small random ripples; scalp
with temporalis muscle; a skull of varying thickness with diploe; a skull base with anterior,
middle and posterior fossae, foramen magnum, petrous bones, mastoid air cells, sphenoid sinus,
orbits; brain with a CSF layer, a cortical ribbon (grey matter) over white matter, sulci (radial
CSF sheets of random pattern, wider with atrophy), deep grey nuclei, lateral/third/fourth
ventricles (larger with atrophy), Sylvian fissures, basal cisterns, the interhemispheric
fissure with the falx, the tentorium, cerebellum with folia and the brainstem below it; normal
hyperdense dural sinuses (superior sagittal, straight, transverse); calcifications (pineal,
choroid plexus, falx, sometimes basal ganglia) in negatives and positives alike; a head holder
behind the head. Scanner effects: correlated noise, a kVp-like HU offset, beam-hardening
(a dark band between the petrous bones, cupping under the skull), motion ghosting on a few
slices of some studies, padding outside the reconstruction circle.

Parameter ranges (uniform unless said):

- matrix 512 (80 %) or 256; field of view 210-250 mm; rendered at <= 256 pixels
- thickness 2.5, 3, 4 or 5 mm (20/20/20/40 %), spacing = thickness (80 %) or 80 % of it;
  coverage from 60-72 mm below the head's centre to 2-8 mm above the vertex, at most 64 slices;
  two planes per slice from 4 mm
- gantry tilt 0 (45 %) or 5-25 degrees either way; yaw +-10, pitch +-12, roll +-6 degrees;
  head centre +-30 mm off the isocentre in x and y
- head: semi-axes 68-80 (left-right), 80-92 front / 88-102 back, 80-95 up, 75-88 down (mm);
  scalp 3.5-6.5 mm (+4-10 mm temporalis); skull 4.5-8 mm, thicker front and back, thinner at
  the temples; atrophy 0-1 (CSF layer 1-3.5 mm, sulci 1.5-4 mm wide, ventricles x1-1.6)
- HU: grey matter 36-44, white matter 8-14 below it, CSF 2-12, scalp 20-45, cortical bone
  1400-1900 and diploe 500-900 (x a 0.85-1.15 bone factor), dural sinuses 55-68, texture
  1-2.5 HU; every soft-tissue value shifted by one kVp offset of +-8 HU
- calcifications: pineal (60 %, 2-4 mm, 120-500 HU), choroid plexus (45 %, 100-350 HU), falx
  plaques (15 %, 250-700 HU), basal ganglia (8 %, 70-160 HU); a head holder (85 %, 150-350
  HU, a foam pad in half)
- noise sd 3-15 HU in the delivered image, spatially correlated; cupping 0-6 HU; a dark
  beam-hardening band of 10-45 HU between the petrous bones (70 %); motion (12 %): 2-6
  consecutive slices ghosted by 1-4 mm
- storage: s16-0 (35 %, with padding -2000 or -3024 outside the circle in half of them),
  u12-1024 (35 %), u16-1000 (10 %), u16-1024-half (20 %)

Positives (one bleed; its voxels take a blood value plus +-3 HU texture), the type uniform
among five, the volume log-uniform 1.5-70 mL (subarachnoid 1.5-25 mL, intraventricular at most
75 % of the ventricles it fills), grown from a priority field until the volume is reached:

- epidural: a lens against the inner table, thickness t at its centre falling as 1 - s^2/R^2
  with the distance s along the table (R/t 2.2-4); 55-85 HU, a hypodense swirl in 25 %
- subdural: a crescent along the convexity of one hemisphere above the tentorium, thickness
  flat then falling as 1 - (s/R)^4; 3-6 mm thick in 40 %, else 6-22 mm; 50-80 HU
- intraparenchymal: a blob with a radius modulated by the direction (+-15-35 %), deep (basal
  ganglia/thalamus, 40 %), lobar (45 %) or cerebellar (15 %); 55-90 HU; an oedema rim 6-14 HU
  below the brain and 15-40 % of the radius wide in 60 %
- subarachnoid: blood replacing CSF, from a convexity seed through the sulci (45 %) or from the
  suprasellar cistern through the basal cisterns, Sylvian and interhemispheric fissures (55 %);
  45-70 HU
- intraventricular: dependent blood in the posterior (occipital) horns with a level, one side
  or both, then the third and fourth ventricles; 50-80 HU
"""

from __future__ import annotations

from dataclasses import dataclass, field

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

# Tissue classes, painted before HU are given.
(
    OUT,
    SCALP,
    BONE,
    DIPLOE,
    CSF,
    GM,
    WM,
    DEEP,
    VENT,
    DURA,
    CEREB,
    STEM,
    CISTERN,
    NECK,
    AIRCELL,
    FAT,
    GLOBE,
    HOLDER,
    FOAM,
    PETROUS,
    CALC,
) = range(21)
N_CLASSES = 21
BRAIN = (GM, WM, DEEP, CEREB, STEM)
INTRACRANIAL = (CSF, GM, WM, DEEP, VENT, DURA, CEREB, STEM, CISTERN)

# One paragraph for the model cards: how this family draws, with its ranges.
DESCRIPTION = (
    "Head CT posed in a scanner and cut by its slice planes: egg-shaped head with scalp and "
    "temporalis, skull of varying thickness with diploe, skull base (fossae, petrous bones, "
    "mastoid and sphenoid air, orbits), grey-white contrast (8-14 HU) with texture, sulci and "
    "fissures widening with atrophy, ventricles, cisterns, falx and tentorium, normal dense "
    "dural sinuses (55-68 HU), calcifications (pineal, choroid, falx, basal ganglia), head "
    "holder; gantry tilt 0 or 5-25 degrees, yaw/pitch/roll, off-centre +-30 mm; 2.5-5 mm "
    "slices (partial volume from 4 mm), matrix 512 or 256; correlated noise 3-15 HU, kVp "
    "offset +-8 HU, beam-hardening band and cupping, motion ghosting in 12 %; padding outside "
    "the circle in some. Positives: epidural, subdural (3-22 mm), intraparenchymal (deep, "
    "lobar, cerebellar; oedema in 60 %), subarachnoid (convexity or basal) or "
    "intraventricular blood of 45-90 HU, log-uniform 1.5-70 mL (subarachnoid 1.5-25)."
)

STYLE = StudyStyle(
    modality="CT",
    body_part="HEAD",
    descriptions=("CT HEAD WITHOUT CONTRAST", "CT BRAIN NON-CON", "CT HEAD ROUTINE", "HEAD CT"),
    bare_descriptions=("CT HEAD", "CT BRAIN", "BRAIN W/O", "HEAD ^ BRAIN"),
    series_descriptions=("Head 3.0 H31s", "AXIAL BRAIN", "Brain 5mm", "HEAD STD AXIAL"),
    manufacturers=(
        ("SIEMENS", "SOMATOM go.Up"),
        ("Philips", "Ingenuity CT"),
        ("CANON_MEC", "Aquilion ONE"),
        ("GE MEDICAL SYSTEMS", "Revolution EVO"),
    ),
)


# --------------------------------------------------------------------------------------------
# The head, drawn once per study


@dataclass(frozen=True)
class Blob:
    """An ellipsoid in head coordinates, turned by ``yaw`` about w, painting ``cls`` over
    the classes in ``onto``; ``hu`` for a calcification (class CALC)."""

    centre: tuple[float, float, float]
    axes: tuple[float, float, float]
    cls: int
    onto: tuple[int, ...]
    yaw: float = 0.0
    hu: float = 0.0


@dataclass
class Head:
    shape: dict  # outer surface, layers, skull base, tentorium
    waves_sulci: np.ndarray  # (m, 4): direction (3) and frequency, for sulcal sheets
    phases_sulci: np.ndarray
    waves_texture: np.ndarray  # (m, 3) spatial frequencies (rad/mm)
    phases_texture: np.ndarray
    blobs: list[Blob]
    hu: np.ndarray  # per class
    texture_hu: float
    falx_hu: float
    cupping_hu: float
    streak: tuple[float, float, float] | None  # (depth HU, v of the band, width mm)
    holder: tuple[float, float, float] | None  # (radius, thickness, foam pad) mm
    holder_centre: tuple[float, float] = (0.0, 0.0)  # patient x, y; set once the head is posed
    notes: dict = field(default_factory=dict)  # what was drawn, for Drawn.parameters
    blob_centres: np.ndarray = field(init=False)
    blob_reach: np.ndarray = field(init=False)

    def __post_init__(self):
        self.blob_centres = np.array([b.centre for b in self.blobs], float)
        self.blob_reach = np.array([max(b.axes) for b in self.blobs], float)


def _unit(rng: np.random.Generator, m: int) -> np.ndarray:
    x = rng.normal(size=(m, 3))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _shape(rng: np.random.Generator, atrophy: float) -> dict:
    return {
        "a": rng.uniform(68, 80),
        "b_front": rng.uniform(80, 92),
        "b_back": rng.uniform(88, 102),
        "c_up": rng.uniform(80, 95),
        "c_down": rng.uniform(75, 88),
        "ripple": tuple(float(x) for x in rng.uniform(-0.03, 0.03, 4)),
        "scalp": rng.uniform(3.5, 6.5),
        "temporalis": rng.uniform(4, 10),
        "skull": rng.uniform(4.5, 8),
        "csf": 1.0 + 2.5 * atrophy * rng.uniform(0.6, 1.0),
        "cortex": rng.uniform(2.5, 3.5),
        "sulcal_depth": rng.uniform(10, 18),
        "sulcal_width": 0.12 + 0.14 * atrophy,
        "fissure": 1.0 + 1.5 * atrophy,
        "fossae": (rng.uniform(25, 31), rng.uniform(43, 49), rng.uniform(60, 68)),
        "base": rng.uniform(4, 7),
        "tentorium": (rng.uniform(-16, -10), rng.uniform(0.28, 0.4)),
        "sylvian": rng.uniform(34, 42),
    }


def _hu_table(rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    offset, bone = rng.uniform(-8, 8), rng.uniform(0.85, 1.15)
    gm = rng.uniform(36, 44)
    csf = rng.uniform(2, 12)
    hu = np.zeros(N_CLASSES, np.float32)
    hu[OUT] = -1000
    hu[[SCALP, NECK]] = rng.uniform(20, 45), rng.uniform(35, 55)
    hu[[BONE, DIPLOE, PETROUS]] = bone * np.array(
        [rng.uniform(1400, 1900), rng.uniform(500, 900), rng.uniform(1700, 2300)]
    )
    hu[[CSF, VENT, CISTERN]] = csf
    hu[GM], hu[WM] = gm, gm - rng.uniform(8, 14)
    hu[DEEP], hu[CEREB] = gm - rng.uniform(1, 3), gm - rng.uniform(0, 3)
    hu[STEM] = hu[WM] + rng.uniform(2, 6)
    hu[DURA] = rng.uniform(55, 68)
    hu[AIRCELL], hu[FAT], hu[GLOBE] = -950, rng.uniform(-100, -70), rng.uniform(5, 15)
    hu[HOLDER], hu[FOAM] = rng.uniform(150, 350), rng.uniform(-110, -60)
    soft = [SCALP, NECK, CSF, VENT, CISTERN, GM, WM, DEEP, CEREB, STEM, DURA, FAT, GLOBE]
    hu[soft] += offset
    return hu, {"kvp_offset_hu": round(offset, 2), "bone_factor": round(bone, 3)}


def _head(rng: np.random.Generator) -> Head:
    atrophy = float(rng.uniform(0, 1) ** 1.5)
    shape = _shape(rng, atrophy)
    m = 9
    sulci = np.concatenate([_unit(rng, m), rng.uniform(6, 11, (m, 1))], axis=1)
    texture = _unit(rng, 5) * rng.uniform(0.15, 0.45, (5, 1))
    streak = None
    if rng.random() < 0.7:
        streak = (rng.uniform(10, 45), rng.uniform(2, 14), rng.uniform(3, 8))
    blobs = _blobs(rng, atrophy, shape)
    hu, notes = _hu_table(rng)
    notes["atrophy"] = round(atrophy, 3)
    notes["calcifications"] = sum(b.cls == CALC for b in blobs)
    notes["beam_hardening"] = streak is not None
    return Head(
        shape=shape,
        waves_sulci=sulci,
        phases_sulci=rng.uniform(0, 2 * np.pi, m),
        waves_texture=texture,
        phases_texture=rng.uniform(0, 2 * np.pi, 5),
        blobs=blobs,
        hu=hu,
        texture_hu=rng.uniform(1, 2.5),
        falx_hu=rng.uniform(15, 35),
        cupping_hu=rng.uniform(0, 6),
        streak=streak,
        holder=_holder_shape(rng, shape),
        notes=notes,
    )


def _holder_shape(rng: np.random.Generator, shape: dict):
    if rng.random() < 0.15:
        return None
    pad = rng.uniform(4, 10) if rng.random() < 0.5 else 0.0
    return (shape["b_back"] + 5 + rng.uniform(3, 8) + pad, rng.uniform(3, 5), pad)


def _blobs(rng: np.random.Generator, atrophy: float, shape: dict) -> list[Blob]:
    """Deep structures in painting order: nuclei, brainstem, cisterns, ventricles, the straight
    sinus, skull base and orbits, then calcifications on top."""
    s = 1.0 + 0.6 * atrophy * rng.uniform(0.7, 1.0)  # ventricles grow with atrophy
    brain = (GM, WM, CSF, CEREB)
    blobs = []
    for side in (-1.0, 1.0):
        blobs += [
            Blob((side * 14, -15, 8), (5, 8, 8), DEEP, brain),  # caudate head
            Blob((side * 22, -4, -2), (7, 14, 9), DEEP, brain, side * 0.25),  # lentiform
            Blob((side * 10, 8, 0), (9, 12, 9), DEEP, brain),  # thalamus
        ]
    blobs += [
        Blob((0, 10, -20), (12, 11, 10), STEM, (*brain, DEEP)),  # midbrain
        Blob((0, 12, -40), (15, 13, 13), STEM, brain),  # pons
        Blob((0, 20, -62), (9, 9, 16), STEM, brain),  # medulla
        Blob((0, -10, -27), (11, 8, 5), CISTERN, (*brain, DEEP)),  # suprasellar
        Blob((0, 24, -12), (8, 6, 5), CISTERN, (*brain, DEEP, STEM)),  # quadrigeminal
        Blob((0, -4, -42), (8, 4, 12), CISTERN, brain),  # prepontine
        Blob((0, 56, -58), (12, 10, 8), CISTERN, brain),  # cisterna magna
    ]
    blobs += [Blob((side * 14, 12, -20), (3, 10, 6), CISTERN, (*brain, DEEP)) for side in (-1, 1)]
    blobs += _ventricles(s)
    # The straight sinus, from the vein of Galen back and down to the torcula: dense, normal.
    onto = (GM, WM, DEEP, CSF, VENT, CISTERN, STEM, CEREB)
    blobs += [Blob((0, 38 + 6 * t, -4 - 5 * t), (3, 3.5, 3), DURA, onto) for t in range(6)]
    blobs += _skull_base(rng, shape)
    blobs += _calcifications(rng)
    return blobs


def _ventricles(s: float) -> list[Blob]:
    onto = (GM, WM, DEEP, CSF, STEM, CEREB, CISTERN)
    blobs = []
    for side in (-1.0, 1.0):
        blobs += [
            Blob((side * (7 + 2 * s), -22, 12), (5 * s, 14, 9), VENT, onto, -side * 0.2),
            Blob((side * (8 + 2 * s), 0, 18), (6 * s, 22, 7 * s), VENT, onto),
            Blob((side * (12 + 2 * s), 26, 10), (7 * s, 16, 9 * s), VENT, onto, side * 0.3),
            Blob((side * 28, -6, -18), (3 * s, 12, 4 * s), VENT, onto, side * 0.2),
        ]
    blobs += [
        Blob((0, 0, -5), (2 * s, 14, 9), VENT, onto),  # third
        Blob((0, 32, -44), (7, 5, 6), VENT, onto),  # fourth
    ]
    return blobs


def _skull_base(rng: np.random.Generator, shape: dict) -> list[Blob]:
    anything = (SCALP, BONE, DIPLOE, NECK, CSF, GM, WM, CEREB, STEM, CISTERN, DURA)
    blobs = []
    for side in (-1.0, 1.0):
        blobs += [
            Blob((side * 32, 20, -50), (24, 7, 8), PETROUS, anything, side * 0.75),
            Blob((side * 48, 34, -56), (11, 11, 12), AIRCELL, (BONE, DIPLOE, NECK, PETROUS)),
            Blob((side * 30, -54, -44), (15, 17, 13), FAT, (NECK, BONE, DIPLOE, SCALP)),
            Blob((side * 30, -58, -44), (11, 11, 11), GLOBE, (FAT,)),
        ]
    blobs.append(Blob((0, -18, -46), (12, 10, 9), AIRCELL, (BONE, DIPLOE, NECK)))  # sphenoid
    if rng.random() < 0.5:  # frontal sinus, inside the frontal bone
        blobs.append(Blob((0, -shape["b_front"] + 8, 30), (14, 8, 12), AIRCELL, (BONE, DIPLOE)))
    return blobs


def _calcifications(rng: np.random.Generator) -> list[Blob]:
    onto = (GM, WM, DEEP, CSF, VENT, CISTERN, STEM, DURA)
    blobs = []
    if rng.random() < 0.6:
        r = rng.uniform(1, 2)
        blobs.append(Blob((0, 24, -7), (r, r, r), CALC, onto, hu=rng.uniform(120, 500)))
    if rng.random() < 0.45:
        r, hu = rng.uniform(1, 2), rng.uniform(100, 350)
        blobs += [Blob((side * 15, 28, 10), (r, r, r), CALC, onto, hu=hu) for side in (-1, 1)]
    if rng.random() < 0.15:
        centre = (0.0, rng.uniform(-40, 40), rng.uniform(30, 55))
        axes = (0.8, rng.uniform(3, 6), rng.uniform(2, 4))
        blobs.append(Blob(centre, axes, CALC, (CSF, CISTERN, DURA), hu=rng.uniform(250, 700)))
    if rng.random() < 0.08:
        r, hu = rng.uniform(1.5, 3), rng.uniform(70, 160)
        blobs += [Blob((side * 21, -4, -2), (r, r, r), CALC, onto, hu=hu) for side in (-1, 1)]
    return blobs


# --------------------------------------------------------------------------------------------
# The scan: where each rendered plane lies in head coordinates


@dataclass
class Scan:
    matrix: int
    n: int  # rendered pixels per side
    pixel: float  # delivered pixel (mm)
    spacing: float
    thickness: float
    tilt: float  # degrees
    sub: int  # planes rendered per slice
    slices: int
    geometry: SliceGeometry
    rotation: np.ndarray  # patient -> head
    centre: np.ndarray  # head centre, patient coordinates
    motion: tuple[int, int, float, float] | None  # first slice, count, shift mm, angle
    pose_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)  # yaw, pitch, roll

    @property
    def step(self) -> float:  # rendered pixel (mm)
        return self.pixel * self.matrix / self.n

    @property
    def voxel_ml(self) -> float:  # of one rendered sub-voxel
        return self.step * self.step * self.spacing / self.sub / 1000.0


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    cz, sz = np.cos(yaw), np.sin(yaw)
    cx, sx = np.cos(pitch), np.sin(pitch)
    cy, sy = np.cos(roll), np.sin(roll)
    rz = np.array([[cz, sz, 0], [-sz, cz, 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, cx, sx], [0, -sx, cx]])
    ry = np.array([[cy, 0, -sy], [0, 1, 0], [sy, 0, cy]])
    return ry @ rx @ rz


def _scan(rng: np.random.Generator, head: Head) -> Scan:
    matrix = 512 if rng.random() < 0.8 else 256
    n = min(matrix, 256)
    pixel = rng.uniform(210, 250) / matrix
    thickness = float(choose(rng, (2.5, 3.0, 4.0, 5.0), (0.2, 0.2, 0.2, 0.4)))
    spacing = thickness if rng.random() < 0.8 else 0.8 * thickness
    tilt = 0.0 if rng.random() < 0.45 else float(rng.uniform(5, 25) * choose(rng, (-1, 1)))
    pose = (rng.uniform(-10, 10), rng.uniform(-12, 12), rng.uniform(-6, 6))
    rotation = _rotation(*np.deg2rad(pose))
    centre = np.array([rng.uniform(-30, 30), rng.uniform(-30, 30), rng.uniform(-120, 80)])
    t = np.deg2rad(tilt)
    row, column = np.array([1.0, 0.0, 0.0]), np.array([0.0, np.cos(t), -np.sin(t)])
    normal = np.cross(row, column)  # (0, sin t, cos t)
    # The head's extent along the slice normal, from below the skull base to over the vertex.
    m = rotation @ normal
    shape = head.shape
    top = np.sqrt(
        (shape["a"] * m[0]) ** 2 + (shape["b_back"] * m[1]) ** 2 + (shape["c_up"] * m[2]) ** 2
    )
    low, high = -rng.uniform(60, 72), top + rng.uniform(2, 8)
    slices = min(64, int(np.ceil((high - low) / spacing)))
    bottom = float(centre @ normal) + high - spacing * (slices - 1)
    # Every slice's centre is on the table axis (x = y = 0); the table steps along z.
    half = (matrix - 1) / 2.0 * pixel
    origin = np.array([0.0, 0.0, bottom / np.cos(t)]) - half * row - half * column
    geometry = SliceGeometry(
        origin=tuple(float(x) for x in origin),
        row=tuple(float(x) for x in row),
        column=tuple(float(x) for x in column),
        pixel_mm=pixel,
        spacing_mm=spacing,
        thickness_mm=thickness,
        tilt_deg=tilt,
        step=(0.0, 0.0, spacing / np.cos(t)),
    )
    motion = None
    if rng.random() < 0.12:
        count = int(rng.integers(2, 7))
        first = int(rng.integers(0, slices - count))
        motion = (first, count, rng.uniform(1, 4), rng.uniform(0, np.pi))
    sub = 2 if thickness >= 4 else 1
    pose_deg = tuple(round(a, 2) for a in pose)
    return Scan(
        matrix,
        n,
        pixel,
        spacing,
        thickness,
        tilt,
        sub,
        slices,
        geometry,
        rotation,
        centre,
        motion,
        pose_deg,
    )


# --------------------------------------------------------------------------------------------
# One rendered plane


@dataclass
class Plane:
    """Pixel (i, j) of a rendered plane is at head coordinates ``h0 + i*di + j*dj`` and at
    patient coordinates ``p0 + i*pi + j*pj``."""

    n: int
    h0: np.ndarray
    di: np.ndarray
    dj: np.ndarray
    p0: np.ndarray
    pi: np.ndarray
    pj: np.ndarray
    normal: np.ndarray = field(init=False)  # unit, head coordinates
    step2: float = field(init=False)  # squared pixel size

    def __post_init__(self):
        normal = np.cross(self.di, self.dj)
        self.normal = normal / np.linalg.norm(normal)
        self.step2 = float(self.di @ self.di)

    def distance(self, points: np.ndarray) -> np.ndarray:
        """Signed distance (mm) of head-coordinate points from the plane."""
        return (points - self.h0) @ self.normal

    def box(self, centre, radius: float) -> tuple[slice, slice] | None:
        """Rows and columns where a sphere (head coordinates) meets the plane, or None."""
        q = np.asarray(centre, float) - self.h0
        distance = float(q @ self.normal)
        if abs(distance) >= radius:
            return None
        step2 = self.step2
        reach = np.sqrt((radius * radius - distance * distance) / step2)
        ic, jc = float(q @ self.di) / step2, float(q @ self.dj) / step2
        i0, i1 = max(0, int(ic - reach)), min(self.n, int(ic + reach) + 2)
        j0, j1 = max(0, int(jc - reach)), min(self.n, int(jc + reach) + 2)
        if i0 >= i1 or j0 >= j1:
            return None
        return slice(i0, i1), slice(j0, j1)

    def coords(self, rows: slice, cols: slice, *, patient: bool = False):
        i = np.arange(rows.start, rows.stop, dtype=np.float32)[:, None]
        j = np.arange(cols.start, cols.stop, dtype=np.float32)[None, :]
        base, di, dj = (self.p0, self.pi, self.pj) if patient else (self.h0, self.di, self.dj)
        return tuple(
            np.float32(base[a]) + i * np.float32(di[a]) + j * np.float32(dj[a]) for a in range(3)
        )


def _planes(scan: Scan, k: int) -> list[Plane]:
    g = scan.geometry
    f = scan.matrix // scan.n
    row, column, normal = np.asarray(g.row), np.asarray(g.column), g.normal
    corner = g.position(k) + (f - 1) / 2.0 * scan.pixel * (row + column)
    planes = []
    for m in range(scan.sub):
        offset = ((m + 0.5) / scan.sub - 0.5) * scan.thickness
        p0 = corner + offset * normal
        pi, pj = f * scan.pixel * column, f * scan.pixel * row
        r = scan.rotation
        planes.append(Plane(scan.n, r @ (p0 - scan.centre), r @ pi, r @ pj, p0, pi, pj))
    return planes


@dataclass
class Fields:
    """Per-pixel geometry of the head inside one plane's crop (all arrays the crop's shape)."""

    u: np.ndarray
    v: np.ndarray
    w: np.ndarray
    r: np.ndarray
    direction: tuple[np.ndarray, np.ndarray, np.ndarray]
    depth_out: np.ndarray  # in from the skin
    scalp: np.ndarray
    skull: np.ndarray
    depth_in: np.ndarray  # in from the inner table
    floor: np.ndarray  # w of the cranial floor
    y: np.ndarray | None = None  # patient y (posterior), for what gravity does
    infra: np.ndarray | None = None  # below the tentorium
    fissure: np.ndarray | None = None
    tentorium: np.ndarray | None = None


def _sig(x):
    return 0.5 + 0.5 * np.tanh(x)


def _fields(shape: dict, u, v, w) -> Fields:
    r = np.sqrt(u * u + v * v + w * w) + np.float32(1e-3)  # float32 throughout: speed
    du, dv, dw = u / r, v / r, w / r
    # Front and back, top and bottom differ; blended so the surface has no step.
    b = shape["b_front"] + (shape["b_back"] - shape["b_front"]) * _sig(dv / np.float32(0.2))
    c = shape["c_down"] + (shape["c_up"] - shape["c_down"]) * _sig(dw / np.float32(0.2))
    e = shape["ripple"]
    ripple = 1 + e[0] * du * dv + e[1] * dv * dw + e[2] * du * dw + e[3] * dv * dv * dv
    radius = ripple / np.sqrt((du / shape["a"]) ** 2 + (dv / b) ** 2 + (dw / c) ** 2)
    depth_out = radius - r
    du2 = du * du  # (x**4 of float32 takes a slow pow path; products do not)
    temporal = du2 * du2 * np.exp(-(((dw + 0.1) / 0.3) ** 2)) * _sig((0.35 - dv) / 0.1)
    scalp = shape["scalp"] + shape["temporalis"] * temporal
    skull = shape["skull"] * (1 + 0.3 * dv**2 - 0.45 * du**2 * np.clip(1 - 2 * np.abs(dw), 0, 1))
    anterior, middle, posterior = shape["fossae"]
    floor = (
        -anterior
        - (middle - anterior) * _sig((v + 22) / 6) * (0.45 + 0.55 * _sig((np.abs(u) - 14) / 5))
        - (posterior - middle) * _sig((v - 14) / 6)
    )
    floor = np.where((u * u + (v - 22) ** 2 < 225) & (v > 5), floor - 40, floor)  # foramen magnum
    return Fields(
        u, v, w, r, (du, dv, dw), depth_out, scalp, skull, depth_out - scalp - skull, floor
    )


def _shell(shape: dict, f: Fields, cls: np.ndarray) -> np.ndarray:
    """Scalp, skull (with diploe), skull base and what is below it; returns the intracranial
    mask."""
    d = f.depth_out
    cls[(d >= 0) & (d < f.scalp)] = SCALP
    bone = (d >= f.scalp) & (f.depth_in < 0)
    cls[bone] = BONE
    diploe = bone & (np.abs(d - f.scalp - f.skull / 2) < f.skull / 6)
    cls[diploe] = DIPLOE
    inner = f.depth_in >= 0
    below = inner & (f.w < f.floor)
    cls[below] = NECK
    # Under the anterior fossa: the orbits (fat, their globes come later) and, between them,
    # the ethmoid air cells.
    front = below & (f.v < -25)
    cls[front] = FAT
    cls[front & (np.abs(f.u) < 13) & (np.sin(0.9 * f.u) * np.sin(0.8 * f.v) > -0.3)] = AIRCELL
    # Thin orbital roofs in front, a thick petrous/occipital base behind.
    base = 3.0 + (shape["base"] - 3.0) * _sig((f.v + 22) / 6)
    cls[below & (f.w >= f.floor - base)] = BONE
    return inner & ~below


def _sulci(head: Head, f: Fields, band: np.ndarray, rel: np.ndarray) -> np.ndarray:
    """Which pixels of ``band`` are in a sulcus: near a zero of a random function of the
    direction, so sulci are sheets reaching in from the surface, narrowing with depth."""
    waves = head.waves_sulci
    d = np.stack([x[band] for x in f.direction], axis=1)
    phase = (d @ waves[:, :3].T.astype(np.float32)) * waves[:, 3].astype(np.float32)
    g = np.cos(phase + head.phases_sulci.astype(np.float32)).sum(axis=1) / np.sqrt(len(waves) / 2)
    return np.abs(g) < head.shape["sulcal_width"] * (1 - rel)


def _brain(head: Head, f: Fields, cls: np.ndarray, inside: np.ndarray) -> None:
    shape = head.shape
    u, v, w, depth = f.u, f.v, f.w, f.depth_in
    t0, slope = shape["tentorium"]
    f.tentorium = t0 - slope * (v - 5) - 0.004 * u * u
    f.infra = inside & (v > -5 + 0.45 * np.abs(u)) & (w < f.tentorium)
    supra = inside & ~f.infra
    csf, cortex = shape["csf"], shape["csf"] + shape["cortex"]
    cls[supra] = np.where(depth < csf, CSF, np.where(depth < cortex, GM, WM))[supra]
    cls[f.infra] = np.where(depth < csf, CSF, CEREB)[f.infra]
    band = supra & (depth >= csf) & (depth < csf + shape["sulcal_depth"])
    if band.any():
        rel = ((depth[band] - csf) / shape["sulcal_depth"]).astype(np.float32)
        sulcus = np.zeros_like(band)
        sulcus[band] = _sulci(head, f, band, rel)
        cls[sulcus] = CSF
    folia = f.infra & (depth >= csf) & (depth < csf + 8)
    folia &= np.abs(np.sin(0.5 * w + 0.012 * u * u)) < 0.1
    cls[folia] = CSF
    _fissures(shape, f, cls, supra)
    _sinuses(f, cls, inside)


def _fissures(shape: dict, f: Fields, cls: np.ndarray, supra: np.ndarray) -> None:
    u, v, w = f.u, f.v, f.w
    f.fissure = supra & (np.abs(u) < shape["fissure"]) & ((w > 8) | (v < -28) | (v > 42))
    cls[f.fissure] = CISTERN
    # The Sylvian fissure runs back and out from the skull base, curving.
    lateral = np.abs(np.abs(u) - (shape["sylvian"] + 0.25 * (v + 10) - 0.008 * (v + 10) ** 2))
    sylvian = supra & (lateral < 0.5 + shape["fissure"]) & (v > -40) & (v < 12)
    sylvian &= (w > -30) & (w < 6) & (f.depth_in < 35)
    cls[sylvian] = CISTERN


def _sinuses(f: Fields, cls: np.ndarray, inside: np.ndarray) -> None:
    """The superior sagittal sinus (a triangle under the vertex) and the transverse sinuses
    (along the occipital table at the tentorium): dense in every normal head."""
    d = f.depth_in
    sagittal = inside & (d < 7) & (np.abs(f.u) < 4 * (1 - d / 7)) & (f.w > -10) & (f.v > -55)
    transverse = inside & (f.v > 35) & (np.abs(f.w - f.tentorium) < 3.5) & (d < 6)
    transverse &= np.abs(f.u) > 8
    cls[sagittal | transverse] = DURA


def _paint(blob: Blob, plane: Plane, cls: np.ndarray, hu: np.ndarray | None = None) -> None:
    box = plane.box(blob.centre, max(blob.axes))
    if box is None:
        return
    u, v, w = plane.coords(*box)
    cu, cv, cw = blob.centre
    a, b, c = blob.axes
    cos, sin = np.float32(np.cos(blob.yaw)), np.float32(np.sin(blob.yaw))
    du, dv = u - cu, v - cv
    q = ((cos * du + sin * dv) / a) ** 2 + ((cos * dv - sin * du) / b) ** 2 + ((w - cw) / c) ** 2
    target = cls[box]
    hit = (q < 1) & np.isin(target, blob.onto)
    target[hit] = blob.cls
    if hu is not None:
        hu[box][hit] = blob.hu


def _holder(head: Head, plane: Plane, cls: np.ndarray) -> None:
    """The head holder, a cradle behind the head fixed to the table (patient coordinates)."""
    if head.holder is None:
        return
    radius, thick, pad = head.holder
    x, y, _ = plane.coords(slice(0, plane.n), slice(0, plane.n), patient=True)
    cx, cy = head.holder_centre
    dist = np.sqrt((x - cx) ** 2 + (y - cy) ** 2)
    behind = y > cy + 0.25 * radius
    cls[behind & (np.abs(dist - radius) < thick / 2)] = HOLDER
    if pad:
        cls[behind & (dist > radius - pad) & (dist < radius - thick / 2) & (cls == OUT)] = FOAM


def _texture(head: Head, plane: Plane, box: tuple[slice, slice]) -> np.ndarray:
    """Sum of plane waves cos(k.h + phase) over the crop. h is affine in (i, j), so each wave
    is cos(a + b i + c j) = cos(a + b i) cos(c j) - sin(a + b i) sin(c j): two outer products
    of 1-D vectors instead of a cosine per pixel."""
    rows, cols = box
    i = np.arange(rows.start, rows.stop)
    j = np.arange(cols.start, cols.stop)
    out = np.zeros((len(i), len(j)), np.float32)
    for k, phase in zip(head.waves_texture, head.phases_texture, strict=True):
        a = float(k @ plane.h0) + phase + float(k @ plane.di) * i
        c = float(k @ plane.dj) * j
        out += np.outer(np.cos(a), np.cos(c)).astype(np.float32)
        out -= np.outer(np.sin(a), np.sin(c)).astype(np.float32)
    out *= np.float32(head.texture_hu / np.sqrt(len(head.phases_texture) / 2))
    return out


def _extras(head: Head, f: Fields, cls: np.ndarray, hu: np.ndarray, texture: np.ndarray) -> None:
    """What is not one flat value per class: texture, falx, tentorium, cupping, streaks."""
    brain = np.isin(cls, BRAIN)
    hu[brain] += texture[brain]
    hu[f.fissure] += head.falx_hu * np.exp(-((f.u[f.fissure] / 0.6) ** 2))
    dura = (f.depth_in >= 0) & (f.v > 0) & (np.abs(f.u) > 6) & (f.w > f.floor)
    dura &= np.abs(f.w - f.tentorium) < 1.5
    # Half the falx's: an oblique cut spreads the tentorium over a band, it must stay faint.
    hu[dura] += 0.5 * head.falx_hu * np.exp(-(((f.w[dura] - f.tentorium[dura]) / 0.6) ** 2))
    hu[brain] += head.cupping_hu * np.clip(1 - f.depth_in[brain] / 12, 0, 1)
    if head.streak is not None:
        depth, level, width = head.streak
        band = f.infra & (f.w < -28) & (f.w > -62)
        hu[band] -= depth * np.exp(-(((f.v[band] - level) / width) ** 2))


def _render(head: Head, plane: Plane) -> tuple[np.ndarray, np.ndarray, Fields | None, tuple]:
    """(HU, classes) of one plane, and the head crop's fields and box for the bleed."""
    cls = np.zeros((plane.n, plane.n), np.uint8)
    _holder(head, plane, cls)
    shape = head.shape
    box = plane.box((0.0, 0.0, 0.0), 1.1 * max(shape["b_back"], shape["c_up"], shape["a"]))
    if box is None:
        return head.hu[cls], cls, None, ()
    f = _fields(shape, *plane.coords(*box))
    f.y = plane.coords(*box, patient=True)[1]
    crop = cls[box]
    crop[f.depth_out >= 0] = OUT  # the holder never enters the head
    inside = _shell(shape, f, crop)
    _brain(head, f, crop, inside)
    near = np.abs(plane.distance(head.blob_centres)) < head.blob_reach
    blobs = [b for b, hit in zip(head.blobs, near, strict=True) if hit]
    for blob in blobs:
        if blob.cls != CALC:
            _paint(blob, plane, cls)
    hu = head.hu[cls]
    _extras(head, f, crop, hu[box], _texture(head, plane, box))
    for blob in blobs:
        if blob.cls == CALC:
            _paint(blob, plane, cls, hu)
    return hu, cls, f, box


# --------------------------------------------------------------------------------------------
# Bleeds: a priority over the voxels a bleed may take; the lowest ones up to the volume bleed.


@dataclass
class Bleed:
    """``select(f, cls)`` narrows the crop to where the bleed may go (with ``onto``);
    ``priority(f, sel, cls)`` orders those voxels, lowest first."""

    kind: str
    side: str
    hu: float
    onto: tuple[int, ...]
    select: object
    priority: object
    fill: float = 1.0
    rim: float = 0.0  # oedema: voxels up to (1 + rim) x the level lose ``rim_drop`` HU
    rim_drop: float = 0.0
    swirl: float = 0.0  # hypodense swirl inside an epidural (HU)
    details: dict = field(default_factory=dict)


def _toward(rng: np.random.Generator, side: float, azimuth, elevation) -> np.ndarray:
    az, el = rng.uniform(*azimuth), rng.uniform(*elevation)
    return np.array([side * np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])


def _arc(f: Fields, sel: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Distance along the surface (mm) from the direction ``d``, at the voxels ``sel``."""
    cosine = (f.u[sel] * d[0] + f.v[sel] * d[1] + f.w[sel] * d[2]) / f.r[sel]
    return f.r[sel] * np.arccos(np.clip(cosine, -1, 1))


def _distance(f: Fields, sel: np.ndarray, point) -> np.ndarray:
    """Distance (mm) of the voxels ``sel`` from a point in head coordinates."""
    return np.sqrt(
        (f.u[sel] - point[0]) ** 2 + (f.v[sel] - point[1]) ** 2 + (f.w[sel] - point[2]) ** 2
    )


def _surface_radius(d: np.ndarray, shape: dict) -> float:
    """How far the skin is from the head's centre along the upper/back direction ``d``."""
    q = (d[0] / shape["a"]) ** 2 + (d[1] / shape["b_back"]) ** 2 + (d[2] / shape["c_up"]) ** 2
    return float(1 / np.sqrt(q))


def _side_name(side: float) -> str:
    return "left" if side > 0 else "right"


def _epidural(rng, volume: float, side: float, shape: dict) -> Bleed:
    d = _toward(rng, side, (-0.9, 0.9), (-0.35, 0.6))
    aspect = rng.uniform(2.2, 4.0)
    thick = (2 * volume * 1000 / (np.pi * aspect**2)) ** (1 / 3)  # V = pi R^2 t / 2
    reach = aspect * thick

    def select(f, cls):
        return (f.depth_in < 2.5 * thick) & (f.u * d[0] + f.v * d[1] + f.w * d[2] > 0)

    def priority(f, sel, cls):
        return (_arc(f, sel, d) / reach) ** 2 + f.depth_in[sel] / thick

    hu, onto = rng.uniform(55, 85), (CSF, GM, WM, DURA, CISTERN, CEREB)
    swirl = rng.uniform(15, 30) if rng.random() < 0.25 else 0.0
    details = {"thickness_mm": thick}
    return Bleed(
        "epidural", _side_name(side), hu, onto, select, priority, swirl=swirl, details=details
    )


def _subdural(rng, volume: float, side: float, shape: dict) -> Bleed:
    d = _toward(rng, side, (-1.2, 1.2), (-0.1, 0.9))
    thick = rng.uniform(3, 6) if rng.random() < 0.4 else rng.uniform(6, 22)
    reach = np.sqrt(1.5 * volume * 1000 / (np.pi * thick))  # V = 2/3 pi R^2 t
    if reach > 110:  # a hemisphere's convexity is about this wide; thicker instead
        reach = 110.0
        thick = 1.5 * volume * 1000 / (np.pi * reach**2)

    def select(f, cls):
        return ~f.infra & (f.u * side > 0) & (f.depth_in < 3 * thick)

    def priority(f, sel, cls):
        s2 = (_arc(f, sel, d) / reach) ** 2
        return s2 * s2 + f.depth_in[sel] / thick

    hu, onto = rng.uniform(50, 80), (CSF, GM, WM, DURA, CISTERN)
    details = {"thickness_mm": thick}
    return Bleed("subdural", _side_name(side), hu, onto, select, priority, details=details)


def _blob_centre(rng, side: float, shape: dict) -> tuple[str, np.ndarray]:
    where = choose(rng, ("deep", "lobar", "cerebellar"), (0.4, 0.45, 0.15))
    if where == "deep":
        return where, np.array(
            [side * rng.uniform(14, 26), rng.uniform(-8, 12), rng.uniform(-8, 8)]
        )
    if where == "cerebellar":
        return where, np.array(
            [side * rng.uniform(12, 28), rng.uniform(42, 55), rng.uniform(-46, -38)]
        )
    d = _toward(rng, side, (-1.2, 1.2), (0.0, 0.8))
    depth = shape["scalp"] + shape["skull"] + rng.uniform(14, 32)
    return where, d * (_surface_radius(d, shape) - depth)


def _intraparenchymal(rng, volume: float, side: float, shape: dict) -> Bleed:
    where, centre = _blob_centre(rng, side, shape)
    size = (3 * volume * 1000 / (4 * np.pi)) ** (1 / 3)
    lobes = _unit_vectors(rng, 3)
    amplitude = rng.uniform(0.15, 0.35, 3) * rng.choice((-1, 1), 3)

    def select(f, cls):
        near = (f.u - centre[0]) ** 2 + (f.v - centre[1]) ** 2 + (f.w - centre[2]) ** 2
        return near < (2.5 * size + 8) ** 2

    def priority(f, sel, cls):
        q = np.stack([f.u[sel] - centre[0], f.v[sel] - centre[1], f.w[sel] - centre[2]], axis=1)
        r = np.linalg.norm(q, axis=1) + 1e-6
        modulation = 1 + ((q / r[:, None] @ lobes.T) ** 2 - 1 / 3) @ amplitude
        return r / (size * modulation)

    hu = rng.uniform(55, 90)
    rim = rng.uniform(0.15, 0.4) if rng.random() < 0.6 else 0.0
    return Bleed(
        "intraparenchymal",
        _side_name(side),
        hu,
        BRAIN,
        select,
        priority,
        rim=rim,
        rim_drop=rng.uniform(6, 14),
        details={"location": where},
    )


def _unit_vectors(rng: np.random.Generator, m: int) -> np.ndarray:
    x = rng.normal(size=(m, 3))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _subarachnoid(rng, volume: float, side: float, shape: dict) -> Bleed:
    hu = rng.uniform(45, 70)
    if rng.random() < 0.45:  # from a convexity seed, through the sulci
        d = _toward(rng, side, (-1.2, 1.2), (0.1, 1.0))
        seed = d * (_surface_radius(d, shape) - 10)

        def convexity(f, sel, cls):
            return _distance(f, sel, seed)

        return Bleed(
            "subarachnoid",
            _side_name(side),
            hu,
            (CSF,),
            lambda f, cls: ~f.infra,
            convexity,
            fill=0.9,
            details={"pattern": "convexity"},
        )
    centre = np.array([side * rng.uniform(0, 8), -10.0, -27.0])  # the suprasellar cistern

    def basal(f, sel, cls):
        # Cisterns and fissures fill before the sulci do.
        return _distance(f, sel, centre) * np.where(cls[sel] == CISTERN, 1.0, 1.7)

    return Bleed(
        "subarachnoid",
        "bilateral",
        hu,
        (CSF, CISTERN),
        lambda f, cls: f.w > -70,
        basal,
        fill=0.9,
        details={"pattern": "basal"},
    )


def _intraventricular(rng, volume: float, side: float, shape: dict) -> Bleed:
    both = rng.random() < 0.5

    def select(f, cls):
        # The lateral ventricles (and the third between them), not the fourth.
        return (f.w > -15) & ((f.u * side > -3) | both)

    def priority(f, sel, cls):
        return -f.y[sel]  # supine: posterior is down, blood settles there first

    name = "bilateral" if both else _side_name(side)
    return Bleed(
        "intraventricular", name, rng.uniform(50, 80), (VENT,), select, priority, fill=0.75
    )


_BLEEDS = {
    "epidural": _epidural,
    "subdural": _subdural,
    "intraparenchymal": _intraparenchymal,
    "subarachnoid": _subarachnoid,
    "intraventricular": _intraventricular,
}


def _bleed(rng: np.random.Generator, shape: dict) -> tuple[Bleed, float]:
    kind = choose(rng, list(_BLEEDS))
    volume = log_uniform(rng, 1.5, 25.0 if kind == "subarachnoid" else 70.0)
    side = 1.0 if rng.random() < 0.5 else -1.0
    return _BLEEDS[kind](rng, volume, side, shape), volume


@dataclass
class Candidates:
    plane: list[int] = field(default_factory=list)
    flat: list[np.ndarray] = field(default_factory=list)
    priority: list[np.ndarray] = field(default_factory=list)
    where: list[np.ndarray] = field(default_factory=list)  # head coordinates (m, 3)

    def add(self, p: int, bleed: Bleed, f: Fields, cls: np.ndarray, box, n: int) -> None:
        sel = np.isin(cls, bleed.onto) & bleed.select(f, cls)
        if not sel.any():
            return
        priority = bleed.priority(f, sel, cls)
        rows, cols = np.nonzero(sel)
        flat = (rows + box[0].start) * n + cols + box[1].start
        keep = np.isfinite(priority)
        self.plane.append(p)
        self.flat.append(flat[keep])
        self.priority.append(priority[keep].astype(np.float32))
        self.where.append(np.stack([f.u[sel], f.v[sel], f.w[sel]], axis=1)[keep])


def _grow(bleed: Bleed, found: Candidates, volume: float, scan: Scan, planes_hu, frac) -> int:
    """Paint the lowest-priority voxels up to ``volume`` mL; returns how many were painted."""
    if not found.priority:
        return 0
    priorities = np.concatenate(found.priority)
    n = min(round(volume / scan.voxel_ml), int(bleed.fill * priorities.size))
    if n < 1:
        return 0
    level = float(np.partition(priorities, n - 1)[n - 1])
    for p, flat, priority, where in zip(
        found.plane, found.flat, found.priority, found.where, strict=True
    ):
        hu, fr = planes_hu[p].reshape(-1), frac[p].reshape(-1)
        if bleed.rim:
            rim = (priority > level) & (priority <= level * (1 + bleed.rim))
            hu[flat[rim]] -= bleed.rim_drop
        taken = priority <= level
        hu[flat[taken]] = _blood(bleed, where[taken])
        fr[flat[taken]] = 1.0
    return n


def _blood(bleed: Bleed, where: np.ndarray) -> np.ndarray:
    """Blood HU with a little texture, and the epidural's hypodense swirl where it has one."""
    u, v, w = where[:, 0], where[:, 1], where[:, 2]
    value = bleed.hu + 3.0 * np.cos(0.31 * u + 0.23 * v - 0.17 * w) * np.cos(0.2 * w - 0.27 * u)
    if bleed.swirl:
        swirl = np.cos(0.45 * u + 0.5 * w) * np.cos(0.4 * v - 0.35 * u) > 0.45
        value = np.where(swirl, value - bleed.swirl, value)
    return value.astype(np.float32)


# --------------------------------------------------------------------------------------------
# From rendered planes to delivered slices


def _smooth(a: np.ndarray) -> np.ndarray:
    """A [1, 2, 1] / 4 blur along both axes of one image (edges repeat)."""
    out = a * np.float32(0.5)
    out[1:] += a[:-1] * np.float32(0.25)
    out[:-1] += a[1:] * np.float32(0.25)
    out[0] += a[0] * np.float32(0.25)
    out[-1] += a[-1] * np.float32(0.25)
    res = out * np.float32(0.5)
    res[:, 1:] += out[:, :-1] * np.float32(0.25)
    res[:, :-1] += out[:, 1:] * np.float32(0.25)
    res[:, 0] += out[:, 0] * np.float32(0.25)
    res[:, -1] += out[:, -1] * np.float32(0.25)
    return res


def _double(a: np.ndarray, out: np.ndarray) -> None:
    """``out`` (2n x 2n) from ``a`` (n x n) by linear interpolation between pixel centres:
    an output pixel is 3/4 its own rendered pixel and 1/4 the next one toward it. Columns
    first, then whole rows: the interleaving stays on the smaller array."""
    q, t = np.float32(0.25), np.float32(0.75)
    n, m = a.shape
    scaled = a * t
    cols = np.empty((n, m, 2), np.float32)
    left, right = cols[:, :, 0], cols[:, :, 1]
    np.multiply(a[:, :-1], q, out=left[:, 1:])
    left[:, 0] = a[:, 0] * q
    left += scaled
    np.multiply(a[:, 1:], q, out=right[:, :-1])
    right[:, -1] = a[:, -1] * q
    right += scaled
    cols = cols.reshape(n, 2 * m)
    scaled = cols * t
    rows = out.reshape(n, 2, 2 * m)
    upper, lower = rows[:, 0], rows[:, 1]
    np.multiply(cols[:-1], q, out=upper[1:])
    upper[0] = cols[0] * q
    upper += scaled
    np.multiply(cols[1:], q, out=lower[:-1])
    lower[-1] = cols[-1] * q
    lower += scaled


def _noise_gain(factor: int) -> float:
    """The sd that unit white noise keeps after ``_smooth`` (factor 1) or 2x upsampling (the
    delivered noise sd is set through it)."""
    # Per axis: the sum of the squared weights; squared over two axes it is the variance.
    # Doubled, even and odd output pixels weigh the rendered ones (0.25, 0.75) and (0.75, 0.25).
    kernel = np.array([0.25, 0.5, 0.25]) if factor == 1 else np.array([0.25, 0.75])
    return float(np.sum(kernel**2))


def _motion(scan: Scan, hu: np.ndarray, frac: np.ndarray) -> None:
    """Ghosting: a few slices are the mean of the head at four positions along a shift."""
    if scan.motion is None:
        return
    first, count, shift, angle = scan.motion
    steps = [
        (round(t * shift * np.sin(angle) / scan.step), round(t * shift * np.cos(angle) / scan.step))
        for t in (0.0, 1 / 3, 2 / 3, 1.0)
    ]
    for k in range(first, first + count):
        for a in (hu, frac):
            a[k] = np.mean([np.roll(a[k], step, axis=(0, 1)) for step in steps], axis=0)


def _finish(scan: Scan, planes_hu: np.ndarray, frac: np.ndarray, rng, sd: float):
    """Slices from planes (partial volume), motion, correlated noise, the delivered matrix."""
    shape = (scan.slices, scan.sub, scan.n, scan.n)
    hu = planes_hu.reshape(shape).mean(axis=1)
    blood = frac.reshape(shape).mean(axis=1)
    _motion(scan, hu, blood)
    factor = scan.matrix // scan.n
    # Rendered at 256 and doubled, white noise comes out with a 2-pixel grain; rendered at the
    # delivered 256 it is blurred once instead: either way the grain of a standard kernel.
    gain = np.float32(sd / _noise_gain(factor))
    for k in range(scan.slices):
        noise = rng.standard_normal((scan.n, scan.n), dtype=np.float32)
        hu[k] += (_smooth(noise) if factor == 1 else noise) * gain
    if factor == 1:
        return hu, blood
    out = np.empty((scan.slices, scan.matrix, scan.matrix), np.float32)
    out_blood = np.zeros((scan.slices, scan.matrix, scan.matrix), np.float32)
    for k in range(scan.slices):
        _double(hu[k], out[k])
        if blood[k].any():
            _double(blood[k], out_blood[k])
    return out, out_blood


def _style(rng: np.random.Generator) -> CtStyle:
    label = choose(rng, ("s16-0", "u12-1024", "u16-1000", "u16-1024-half"), (0.35, 0.35, 0.1, 0.2))
    padding = None
    if label == "s16-0" and rng.random() < 0.5:
        padding = float(choose(rng, (-2000.0, -3024.0)))
    return CtStyle(
        encoding=CT_ENCODINGS[label],
        kvp=choose(rng, (100.0, 120.0, 130.0)),
        kernel=choose(rng, ("H31s", "FC21", "UB", "SOFT", "J40s")),
        windows=choose(rng, (((40.0,), (80.0,)), ((35.0, 700.0), (90.0, 3200.0)), None)),
        descending_numbers=bool(rng.random() < 0.5),
        padding_hu=padding,
        spacing_element=bool(rng.random() < 0.5),
    )


def _circle(scan: Scan) -> np.ndarray:
    """Pixels outside the reconstruction circle (the field of view's inscribed circle)."""
    c = (scan.matrix - 1) / 2.0
    i = np.arange(scan.matrix) - c
    return i[:, None] ** 2 + i[None, :] ** 2 > (scan.matrix / 2.0) ** 2


def _render_all(head: Head, scan: Scan, bleed: Bleed | None, volume: float):
    """Every plane of every slice, the bleed grown into them; (planes HU, blood fraction,
    voxels of blood)."""
    planes_hu = np.empty((scan.slices * scan.sub, scan.n, scan.n), np.float32)
    found = Candidates()
    for k in range(scan.slices):
        for m, plane in enumerate(_planes(scan, k)):
            p = k * scan.sub + m
            planes_hu[p], cls, f, box = _render(head, plane)
            if bleed is not None and f is not None:
                found.add(p, bleed, f, cls[box], box, scan.n)
    frac = np.zeros_like(planes_hu)
    painted = _grow(bleed, found, volume, scan, planes_hu, frac) if bleed else 0
    return planes_hu, frac, painted


def _parameters(head: Head, scan: Scan, style: CtStyle, sd: float, volume: float | None):
    return {
        "matrix": scan.matrix,
        "rendered": scan.n,
        "pixel_mm": round(scan.pixel, 4),
        "slices": scan.slices,
        "spacing_mm": scan.spacing,
        "thickness_mm": scan.thickness,
        "tilt_deg": round(scan.tilt, 2),
        "noise_sd_hu": round(sd, 2),
        "motion": scan.motion is not None,
        "encoding": style.encoding.label,
        "padding_hu": style.padding_hu,
        "target_volume_ml": None if volume is None else round(volume, 3),
        "pose_deg": scan.pose_deg,
        "centre_mm": tuple(round(float(c), 1) for c in scan.centre[:2]),
        "holder": head.holder is not None,
        **head.notes,
    }


def draw(rng: np.random.Generator, *, positive: bool) -> Drawn:
    """One scanner-like head CT; the bleed (if ``positive``) is the only difference a flag
    makes."""
    header_rng, anatomy_rng, finding_rng, noise_rng = rng.spawn(4)
    head = _head(anatomy_rng)
    scan = _scan(anatomy_rng, head)
    head.holder_centre = (float(scan.centre[0]), float(scan.centre[1]) - 5.0)
    sd = float(anatomy_rng.uniform(3, 15))
    bleed, volume = _bleed(finding_rng, head.shape) if positive else (None, None)
    planes_hu, frac, painted = _render_all(head, scan, bleed, volume or 0.0)
    hu, blood = _finish(scan, planes_hu, frac, noise_rng, sd)
    style = _style(header_rng)
    salt = "positive" if positive else "negative"
    header = study_header(header_rng, STYLE, salt)
    outside = _circle(scan) if style.padding_hu is not None else None
    datasets = ct_series(
        hu,
        geometry=scan.geometry,
        style=style,
        header=header,
        rng=header_rng,
        outside=outside,
        salt=salt,
    )
    finding, masks = {"type": "none"}, {}
    if bleed is not None:
        details = {k: round(v, 2) if isinstance(v, float) else v for k, v in bleed.details.items()}
        finding = {
            "type": bleed.kind,
            "side": bleed.side,
            "volume_ml": round(painted * scan.voxel_ml, 3),
            "hu": round(bleed.hu, 1),
            **details,
        }
        masks["finding"] = blood >= 0.5
    return Drawn(datasets, positive, finding, _parameters(head, scan, style, sd, volume), masks)
