"""What every family returns, and the DICOM a modality would send for what a family drew.

The families draw pixels; this module turns them into instances with the headers hospitals'
modalities write, varied the way they vary in practice: how CT stores its Hounsfield units
(unsigned with intercept -1024 or -1000, signed with intercept 0, slope 0.5, 12 or 16 stored
bits, padding outside the reconstruction circle), whether BodyPartExamined is there or only the
study description says what was scanned, MONOCHROME1 CR and MONOCHROME2 DX, with and without a
VOI window. Every identifier comes from the caller's generator, so a seed replays byte for byte.

Nothing here draws anatomy: the families' drawing code stays independent of each other.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    ComputedRadiographyImageStorage,
    CTImageStorage,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    generate_uid,
)

# Our own root would be better in production; for synthetic validation studies pydicom's root
# marks them as made by a program, which they are.
_IMPLEMENTATION_CLASS_UID = "1.2.826.0.1.3680043.8.498.1"
_IMPLEMENTATION_VERSION = "RC_VALIDATION_1"


@dataclass
class Drawn:
    """One drawn study.

    ``datasets``: one complete series, in the random order a modality's association may send
    it. ``finding``: ``{"type": "none"}`` for a negative, else what was drawn (type, side, size,
    HU or contrast). ``parameters``: everything else that was drawn (matrix, slices, noise...).
    ``masks``: boolean arrays on the series' pixel grid. ``"finding"`` (positives) is the
    finding itself; a CT mask is (slices, rows, columns) with slices ascending along the slice
    normal (the order ``triage.core.preprocess.sort_slices`` gives); a radiograph mask is
    (rows, columns). Families may add others (``"lung"``: the aerated lung left on the side of a
    pneumothorax).
    """

    datasets: list[Dataset]
    positive: bool
    finding: dict
    parameters: dict
    masks: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class Family:
    """A validation family: ``draw(rng, positive=...) -> Drawn``; ``description`` for the cards."""

    name: str
    task: str
    description: str
    draw: Callable[..., Drawn]


# --------------------------------------------------------------------------------------------
# Small drawing helpers every family uses


def log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """A value whose logarithm is uniform in [log low, log high]: small and large sizes alike."""
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def uid(rng: np.random.Generator, salt: str = "") -> str:
    """A UID under pydicom's root whose entropy is the generator's (a seed replays it) and
    ``salt``: a positive and a negative drawn from one seed share their anatomy and header
    choices, never their UIDs (a PACS would merge two studies with one StudyInstanceUID)."""
    return generate_uid(entropy_srcs=[f"{int(rng.integers(0, 2**63)):x}", salt])


def choose(rng: np.random.Generator, options: Sequence, weights: Sequence[float] | None = None):
    """One of ``options`` (weights need not sum to one)."""
    p = None if weights is None else np.asarray(weights, float) / float(np.sum(weights))
    return options[int(rng.choice(len(options), p=p))]


# --------------------------------------------------------------------------------------------
# Patient and study

_FAMILY_NAMES = (
    "KIM",
    "LEE",
    "PARK",
    "NGUYEN",
    "GARCIA",
    "SMITH",
    "MUELLER",
    "ROSSI",
    "SILVA",
    "KOWALSKI",
    "OKAFOR",
    "HAN",
    "TANAKA",
    "DUBOIS",
    "JANSEN",
    "LARSEN",
    "NOVAK",
    "IVANOV",
    "COHEN",
    "PATEL",
)
_GIVEN_NAMES = (
    "MINJI",
    "JOON",
    "ANNA",
    "LUIS",
    "MARIA",
    "JOHN",
    "PETRA",
    "SOFIA",
    "AMIR",
    "CHEN",
    "YUKI",
    "ELENA",
    "KWAME",
    "LINH",
    "OMAR",
    "HANNA",
    "PAUL",
    "INES",
    "RAVI",
    "SARA",
)


@dataclass(frozen=True)
class StudyStyle:
    """How a family's modality labels its studies.

    ``body_part`` goes in BodyPartExamined except with probability ``p_no_body_part``; then one
    of ``bare_descriptions`` (which name the body part in words) is the study description.
    """

    modality: str
    body_part: str
    descriptions: tuple[str, ...]
    bare_descriptions: tuple[str, ...]
    series_descriptions: tuple[str, ...]
    manufacturers: tuple[tuple[str, str], ...]
    p_no_body_part: float = 0.2


def study_header(rng: np.random.Generator, style: StudyStyle, salt: str = "") -> dict:
    """The patient/study/series level elements of one study, as {keyword: value}."""
    study_date = dt.date(2023, 1, 1) + dt.timedelta(days=int(rng.integers(0, 1000)))
    age = int(rng.integers(18, 96))
    birth = study_date - dt.timedelta(days=age * 365 + int(rng.integers(0, 365)))
    seconds = int(rng.integers(0, 86400))
    time = f"{seconds // 3600:02d}{seconds // 60 % 60:02d}{seconds % 60:02d}"
    manufacturer, model = choose(rng, style.manufacturers)
    header = {
        "PatientName": f"{choose(rng, _FAMILY_NAMES)}^{choose(rng, _GIVEN_NAMES)}",
        "PatientID": f"{int(rng.integers(10**6, 10**9))}",
        "PatientBirthDate": birth.strftime("%Y%m%d"),
        "PatientSex": choose(rng, ("F", "M")),
        "PatientAge": f"{age:03d}Y",
        "StudyInstanceUID": uid(rng, salt),
        "SeriesInstanceUID": uid(rng, salt),
        "FrameOfReferenceUID": uid(rng, salt),
        "StudyDate": study_date.strftime("%Y%m%d"),
        "SeriesDate": study_date.strftime("%Y%m%d"),
        "StudyTime": time,
        "SeriesTime": time,
        "AccessionNumber": f"A{int(rng.integers(10**7, 10**8))}",
        "StudyID": f"{int(rng.integers(1, 99999))}",
        "SeriesNumber": int(rng.integers(1, 8)),
        "Modality": style.modality,
        "Manufacturer": manufacturer,
        "ManufacturerModelName": model,
        "InstitutionName": "VALIDATION GENERAL HOSPITAL",
        "ReferringPhysicianName": "",
        "SeriesDescription": choose(rng, style.series_descriptions),
    }
    if rng.random() < style.p_no_body_part:
        header["StudyDescription"] = choose(rng, style.bare_descriptions)
    else:
        header["BodyPartExamined"] = style.body_part
        header["StudyDescription"] = choose(rng, style.descriptions)
    return header


def _file_meta(sop_class: str, sop_instance: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = _IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = _IMPLEMENTATION_VERSION
    return meta


def _instance(header: dict, sop_class: str, sop_instance: str) -> Dataset:
    ds = Dataset()
    ds.file_meta = _file_meta(sop_class, sop_instance)
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_instance
    for keyword, value in header.items():
        setattr(ds, keyword, value)
    return ds


# --------------------------------------------------------------------------------------------
# CT


@dataclass(frozen=True)
class CtEncoding:
    """How a scanner stores HU: stored = (HU - intercept) / slope, in ``bits`` stored bits."""

    label: str
    slope: float
    intercept: float
    signed: bool
    bits: int

    def limits(self) -> tuple[int, int]:
        if self.signed:
            return -(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1
        return 0, (1 << self.bits) - 1

    def store(self, hu: np.ndarray) -> np.ndarray:
        values = np.rint((hu - np.float32(self.intercept)) / np.float32(self.slope))
        np.clip(values, *self.limits(), out=values)
        return values.astype("<i2" if self.signed else "<u2")


CT_ENCODINGS = {
    "u12-1024": CtEncoding("u12-1024", 1.0, -1024.0, False, 12),
    "u16-1000": CtEncoding("u16-1000", 1.0, -1000.0, False, 16),
    "s16-0": CtEncoding("s16-0", 1.0, 0.0, True, 16),
    "s12-0": CtEncoding("s12-0", 1.0, 0.0, True, 12),
    "u16-1024-half": CtEncoding("u16-1024-half", 0.5, -1024.0, False, 16),
}


@dataclass(frozen=True)
class SliceGeometry:
    """Where slice ``k``'s pixels are in patient coordinates (LPS, mm).

    Pixel (row i, column j) of slice k is at ``origin + k*step + j*pixel*row + i*pixel*column``:
    ``row`` is the direction along a row (ImageOrientationPatient's first three values),
    ``column`` down a column, ``step`` from one slice to the next: ``spacing * normal`` unless
    given (a gantry-tilted scan steps along the table, z, and its slices are sheared). ``normal``
    is row x column, so slice 0 is the lowest (feet) for an axial stack.
    """

    origin: tuple[float, float, float]
    row: tuple[float, float, float]
    column: tuple[float, float, float]
    pixel_mm: float
    spacing_mm: float
    thickness_mm: float
    tilt_deg: float = 0.0
    step: tuple[float, float, float] | None = None

    @property
    def normal(self) -> np.ndarray:
        return np.cross(np.asarray(self.row), np.asarray(self.column))

    def position(self, k: int) -> np.ndarray:
        step = self.spacing_mm * self.normal if self.step is None else np.asarray(self.step)
        return np.asarray(self.origin) + k * step


@dataclass(frozen=True)
class CtStyle:
    """Per-series CT header choices a family draws (kernel, kVp, windows, numbering...)."""

    encoding: CtEncoding
    kvp: float
    kernel: str
    windows: tuple[tuple[float, ...], tuple[float, ...]] | None
    descending_numbers: bool
    padding_hu: float | None = None
    spacing_element: bool = True


def _ds(value: float) -> str:
    """A DS string of at most 16 characters."""
    text = f"{value:.6g}"
    return text if len(text) <= 16 else f"{value:.4e}"


def ct_series(
    hu: np.ndarray,
    *,
    geometry: SliceGeometry,
    style: CtStyle,
    header: dict,
    rng: np.random.Generator,
    outside: np.ndarray | None = None,
    salt: str = "",
) -> list[Dataset]:
    """``hu`` (slices ascending along the normal, rows, columns) as CT instances, shuffled.

    ``outside`` marks pixels outside the reconstruction circle: they get ``style.padding_hu``
    (and PixelPaddingValue says so), as scanners that pad write them.
    """
    n_slices, rows, columns = hu.shape
    uids = [uid(rng, salt) for _ in range(n_slices)]
    padding = None
    if outside is not None and style.padding_hu is not None:
        padding = style.encoding.store(np.array([style.padding_hu], np.float32))
    datasets = []
    for k in range(n_slices):
        stored = style.encoding.store(hu[k])
        if padding is not None:
            stored[outside] = padding[0]
        ds = _instance(header, CTImageStorage, uids[k])
        _ct_elements(ds, k, n_slices, geometry, style)
        ds.Rows, ds.Columns = rows, columns
        if padding is not None:
            ds.PixelPaddingValue = int(padding[0])
        ds.PixelData = stored.tobytes()
        datasets.append(ds)
    order = rng.permutation(n_slices)
    return [datasets[i] for i in order]


def _ct_elements(ds: Dataset, k: int, n_slices: int, geometry: SliceGeometry, style: CtStyle):
    position = geometry.position(k)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.InstanceNumber = n_slices - k if style.descending_numbers else k + 1
    ds.ImagePositionPatient = [_ds(v) for v in position]
    ds.ImageOrientationPatient = [_ds(v) for v in (*geometry.row, *geometry.column)]
    ds.SliceLocation = _ds(float(position[2]))
    ds.PixelSpacing = [_ds(geometry.pixel_mm), _ds(geometry.pixel_mm)]
    ds.SliceThickness = _ds(geometry.thickness_mm)
    if style.spacing_element:
        ds.SpacingBetweenSlices = _ds(geometry.spacing_mm)
    ds.GantryDetectorTilt = _ds(geometry.tilt_deg)
    ds.KVP = _ds(style.kvp)
    ds.ConvolutionKernel = style.kernel
    ds.PatientPosition = "HFS"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = style.encoding.bits
    ds.HighBit = style.encoding.bits - 1
    ds.PixelRepresentation = 1 if style.encoding.signed else 0
    ds.RescaleIntercept = _ds(style.encoding.intercept)
    ds.RescaleSlope = _ds(style.encoding.slope)
    ds.RescaleType = "HU"
    if style.windows is not None:
        centers, widths = style.windows
        ds.WindowCenter = [_ds(c) for c in centers] if len(centers) > 1 else _ds(centers[0])
        ds.WindowWidth = [_ds(w) for w in widths] if len(widths) > 1 else _ds(widths[0])


# --------------------------------------------------------------------------------------------
# Projection radiographs


@dataclass(frozen=True)
class RadiographStyle:
    """How a detector stores and labels one radiograph.

    ``modality`` "CR" (CR Image Storage) or "DX" (Digital X-Ray For Presentation);
    ``window`` (center, width) in stored units or None; ``pixel_mm`` the delivered spacing.
    """

    modality: str
    photometric: str
    bits: int
    pixel_mm: float
    window: tuple[float, float] | None
    view: str = "PA"
    rescale: bool = False


def radiograph(
    stored: np.ndarray, *, style: RadiographStyle, header: dict, rng, salt: str = ""
) -> Dataset:
    """One radiograph instance from stored values (unsigned, already in ``style.bits`` bits)."""
    top = (1 << style.bits) - 1
    if stored.min() < 0 or stored.max() > top:
        raise ValueError(f"stored values outside 0..{top}")
    sop_class = (
        ComputedRadiographyImageStorage
        if style.modality == "CR"
        else DigitalXRayImageStorageForPresentation
    )
    ds = _instance(header, sop_class, uid(rng, salt))
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.InstanceNumber = 1
    ds.ViewPosition = style.view
    # Displayed as radiographs are read (the patient's right on the viewer's left), PA or AP.
    ds.PatientOrientation = ["L", "F"]
    ds.ImagerPixelSpacing = [_ds(style.pixel_mm), _ds(style.pixel_mm)]
    if style.modality == "DX":
        ds.PresentationIntentType = "FOR PRESENTATION"
        ds.PixelSpacing = [_ds(style.pixel_mm), _ds(style.pixel_mm)]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = style.photometric
    ds.Rows, ds.Columns = stored.shape
    ds.BitsAllocated = 16
    ds.BitsStored = style.bits
    ds.HighBit = style.bits - 1
    ds.PixelRepresentation = 0
    if style.rescale:
        ds.RescaleIntercept = "0"
        ds.RescaleSlope = "1"
        ds.RescaleType = "US"
    if style.window is not None:
        ds.WindowCenter = _ds(style.window[0])
        ds.WindowWidth = _ds(style.window[1])
    ds.PixelData = np.ascontiguousarray(stored, dtype="<u2").tobytes()
    return ds
