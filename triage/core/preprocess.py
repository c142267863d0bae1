"""From the DICOM a hospital sent to the array a triage model reads. No Django, no torch.

The steps, in the order the pipeline runs them:

0. ``frames_as_slices`` (inside ``select_series``, for a series of the rule's modality): an
   enhanced (multi-frame) instance read as the single-frame slices its frames stand for, so
   that every step below sees slices.
1. ``select_series``: which series of a study the model may look at (a CT head model must not
   be fed a scout, a sagittal reformat or an MR), with the reason every other series was passed
   over, so a run can record why it chose what it chose.
2. ``sort_slices``: slices in anatomical order, from their geometry rather than the order they
   arrived in.
3. ``pixel_array`` then ``to_hounsfield``: decoded pixels (whatever transfer syntax the hospital
   used) in modality units (Hounsfield units for CT).
4. ``resize`` then ``window`` (CT) or ``presentation`` then ``resize`` (radiographs): the model's
   input size and intensity range.

``prepare_ct_volume`` and ``prepare_radiograph`` run 2-4 and return a ``PreparedInput``.

Two exceptions, kept apart because the caller records them differently: ``PreprocessError``
means the input should have worked and did not (a ``failed`` run, worth a look);
``NotApplicable`` means the study has nothing this model is meant for (a ``not_applicable``
run, nothing wrong).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels import apply_modality_lut, get_decoder
from pydicom.pixels import pixel_array as _decode_pixels
from pydicom.tag import Tag
from pydicom.uid import (
    JPEG2000,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from triage.core.resample import resize

__all__ = [
    "CHEST_RADIOGRAPH",
    "CT_HEAD",
    "WINDOWS",
    "EnhancedFrame",
    "NotApplicable",
    "PreparedInput",
    "PreprocessError",
    "SelectedSeries",
    "SeriesRule",
    "frames_as_slices",
    "mentions",
    "pixel_array",
    "prepare_ct_volume",
    "prepare_radiograph",
    "presentation",
    "require_series",
    "resize",
    "select_series",
    "sort_slices",
    "to_hounsfield",
    "window",
]


# --------------------------------------------------------------------------------------------
# Errors


class PreprocessError(Exception):
    """The input should have been usable and was not (undecodable, truncated, inconsistent).

    The caller records a ``failed`` run with ``reason``: someone should look at it.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class NotApplicable(Exception):
    """Nothing in the study is what this model is for (an MR for a CT head model, say).

    Not a failure: the caller records a ``not_applicable`` run with ``reason`` and, when series
    selection raised it, the per-series reasons in ``rejected``.
    """

    def __init__(self, reason: str, rejected: Sequence[tuple[str, str]] = ()):
        super().__init__(reason)
        self.reason = reason
        self.rejected = list(rejected)


# --------------------------------------------------------------------------------------------
# Small header helpers


def _first(value):
    """The first value of a possibly multi-valued element (WindowCenter often has several)."""
    if isinstance(value, MultiValue | list | tuple):
        return value[0] if len(value) else None
    return value


def _number(ds: Dataset, keyword: str, default: float | None = None) -> float | None:
    """A numeric header value, ``default`` when absent or empty; PreprocessError when garbage."""
    value = _first(ds.get(keyword))
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise PreprocessError(f"{keyword} is not a number: {value!r}") from exc
    if not math.isfinite(number):
        raise PreprocessError(f"{keyword} is not a finite number: {value!r}")
    return number


def _floats(ds: Dataset, keyword: str, count: int) -> np.ndarray | None:
    """``count`` numbers from a multi-valued element, or None when absent or malformed."""
    value = ds.get(keyword)
    if value is None or isinstance(value, str | bytes):
        return None
    try:
        numbers = np.array([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if numbers.shape != (count,) or not np.all(np.isfinite(numbers)):
        return None
    return numbers


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    return "" if value is None else str(value).strip()


def _fmt(x: float) -> str:
    return f"{x:g}"


# --------------------------------------------------------------------------------------------
# Decoding

# Labels for the syntaxes hospitals send; the ones pydicom's own UID names spell differently are
# those a reader recognises by their bit depth or process ("JPEG Extended 12-bit").
_SYNTAX_LABELS = {
    ImplicitVRLittleEndian: "Implicit VR Little Endian",
    ExplicitVRLittleEndian: "Explicit VR Little Endian",
    ExplicitVRBigEndian: "Explicit VR Big Endian",
    DeflatedExplicitVRLittleEndian: "Deflated Explicit VR Little Endian",
    RLELossless: "RLE Lossless",
    JPEGBaseline8Bit: "JPEG Baseline 8-bit",
    JPEGExtended12Bit: "JPEG Extended 12-bit",
    JPEGLossless: "JPEG Lossless Process 14",
    JPEGLosslessSV1: "JPEG Lossless SV1",
    JPEGLSLossless: "JPEG-LS Lossless",
    JPEGLSNearLossless: "JPEG-LS Near-Lossless",
    JPEG2000Lossless: "JPEG 2000 Lossless",
    JPEG2000: "JPEG 2000",
}
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
# What pydicom needs to interpret the bytes; checked first so a missing one is named plainly.
_PIXEL_DESCRIPTION = (
    "Rows",
    "Columns",
    "BitsAllocated",
    "SamplesPerPixel",
    "PhotometricInterpretation",
)


def _syntax_label(uid: str) -> str:
    name = _SYNTAX_LABELS.get(uid) or (UID(uid).name if UID(uid).name != uid else "")
    return f"{name} ({uid})" if name else f"transfer syntax {uid}"


_PYDICOM_PREAMBLE = "Unable to decode as exceptions were raised by all available plugins: "


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = text.removeprefix(_PYDICOM_PREAMBLE)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _native_length(ds: Dataset) -> int:
    frames = int(_number(ds, "NumberOfFrames", 1) or 1)
    samples = int(ds.SamplesPerPixel)
    pixels = int(ds.Rows) * int(ds.Columns) * samples * frames
    bits = int(ds.BitsAllocated)
    return (pixels * bits + 7) // 8


def _described_transfer_syntax(ds: Dataset) -> UID:
    """The file meta's transfer syntax, once the pixels are fully described and it is known."""
    file_meta = getattr(ds, "file_meta", None)
    tsyntax = file_meta.get("TransferSyntaxUID") if file_meta is not None else None
    if not tsyntax:
        raise PreprocessError("no Transfer Syntax UID in the file meta: pixel encoding unknown")
    tsyntax = UID(str(tsyntax))
    missing = [k for k in _PIXEL_DESCRIPTION if ds.get(k) in (None, "")]
    if missing:
        raise PreprocessError(f"pixel description incomplete: no {', '.join(missing)}")
    if not tsyntax.is_transfer_syntax:
        raise PreprocessError(
            f"{_syntax_label(tsyntax)} is not a transfer syntax this service knows"
        )
    return tsyntax


def _require_decoder(tsyntax: UID, label: str) -> None:
    """An encapsulated syntax needs a decoder, and its plugin installed, before decoding."""
    try:
        decoder = get_decoder(tsyntax)
    except NotImplementedError as exc:
        raise PreprocessError(f"{label} is not decodable here: no decoder exists") from exc
    if not decoder.is_available:
        deps = "; ".join(
            f"{name}: {', '.join(why)}" for name, why in decoder.missing_dependencies.items()
        )
        raise PreprocessError(f"{label} is not decodable here: no decoder plugin ({deps})")


def pixel_array(ds: Dataset) -> np.ndarray:
    """The decoded pixels of ``ds`` (stored values; ``to_hounsfield`` applies the modality LUT).

    Shapes as pydicom returns them: (rows, cols), (frames, rows, cols) or with a trailing
    samples axis for colour. Decoding goes through pydicom 3's decoders, which use the installed
    plugins: pydicom itself for native and RLE, pylibjpeg(-libjpeg/-openjpeg) for JPEG and JPEG
    2000, pyjpegls for JPEG-LS.

    Every failure becomes a ``PreprocessError`` whose reason says what was wrong in the input
    (missing, truncated, a syntax no installed plugin decodes) rather than leaking a pydicom or
    numpy exception: a hospital's sender can act on "JPEG Extended 12-bit is not decodable
    here", not on a traceback. JPEG Extended 12-bit is attempted, not refused: libjpeg decodes
    some 12-bit streams and rejects others.
    """
    if isinstance(ds, EnhancedFrame):
        return ds.source.frame(ds.index)
    keyword = next((k for k in _PIXEL_KEYWORDS if k in ds), None)
    if keyword is None or ds[keyword].value is None:
        raise PreprocessError("no pixel data")
    tsyntax = _described_transfer_syntax(ds)
    label = _syntax_label(tsyntax)
    if tsyntax.is_encapsulated:
        _require_decoder(tsyntax, label)
    else:
        expected, got = _native_length(ds), len(ds[keyword].value)
        if got < expected:
            raise PreprocessError(f"pixel data truncated: expected {expected} bytes, got {got}")

    try:
        pixels = _native_frame(ds, tsyntax, keyword)
        if pixels is None:
            pixels = _decode_pixels(ds)
    except Exception as exc:
        # Third-party decoders raise anything (RuntimeError, ValueError, struct.error...); the
        # caller needs one type and a readable reason.
        verb = "is not decodable here" if tsyntax.is_encapsulated else "could not be decoded"
        raise PreprocessError(f"{label} {verb}: {_one_line(exc)}") from exc
    spatial = pixels.shape[-2:] if int(ds.SamplesPerPixel) == 1 else pixels.shape[-3:-1]
    if spatial != (int(ds.Rows), int(ds.Columns)):
        raise PreprocessError(
            f"{label} decoded to shape {pixels.shape}, header says {ds.Rows}x{ds.Columns}"
        )
    return pixels


_LITTLE_ENDIAN_NATIVE = frozenset({ExplicitVRLittleEndian, ImplicitVRLittleEndian})


def _native_frame(ds: Dataset, tsyntax: UID, keyword: str) -> np.ndarray | None:
    """One uncompressed little-endian grey frame read straight from its bytes, or None.

    The commonest CT slice (a 512 x 512 16-bit frame) is most of what triage decodes, and
    pydicom's general decoder spends about a tenth of a millisecond of Python on each one
    before the bytes are touched (40 freshly read slices: 11.8 ms decoded through pydicom,
    7.6 ms this way, with the checks above). This reads the same values pydicom would
    (tests/triage/test_preprocess.py compares the two): unused high bits are masked for
    unsigned pixels and the sign extended from the high bit for signed ones. Anything else
    (big endian, deflated, several frames or samples, 1- or 32-bit, float pixels) returns None
    and goes through pydicom.
    """
    if keyword != "PixelData" or tsyntax not in _LITTLE_ENDIAN_NATIVE:
        return None
    bits, stored = int(ds.BitsAllocated), int(ds.BitsStored)
    if (
        bits not in (8, 16)
        or not 0 < stored <= bits
        or int(ds.SamplesPerPixel) != 1
        or int(_number(ds, "NumberOfFrames", 1) or 1) != 1
    ):
        return None
    signed = int(ds.PixelRepresentation) == 1
    rows, cols = int(ds.Rows), int(ds.Columns)
    dtype = np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")
    pixels = np.frombuffer(ds.PixelData, dtype, count=rows * cols).reshape(rows, cols)
    if stored == bits:
        return pixels.astype(dtype.newbyteorder("="))  # a writable copy, as pydicom returns
    if signed:
        # Shifted up so the high bit is the sign bit, then arithmetically back down.
        unused = bits - stored
        return (pixels << unused) >> unused
    return pixels & np.array((1 << stored) - 1, dtype)


# --------------------------------------------------------------------------------------------
# Intensities


def _require_grey(ds: Dataset) -> None:
    samples = int(_number(ds, "SamplesPerPixel", 1) or 1)
    photometric = _text(ds, "PhotometricInterpretation").upper()
    if samples != 1 or photometric not in ("MONOCHROME1", "MONOCHROME2", ""):
        raise PreprocessError(
            f"colour image ({photometric or '?'}, {samples} samples per pixel): "
            "a grey-scale image is needed"
        )


def to_hounsfield(ds: Dataset, pixels: np.ndarray) -> np.ndarray:
    """Stored values to modality values as float32: Hounsfield units for CT.

    The modality LUT: RescaleSlope/RescaleIntercept (absent = 1 and 0, as the standard says for
    images without a rescale), or, when a ModalityLUTSequence is present, pydicom's
    ``apply_modality_lut``, which applies the table. Vendors store the same HU very differently
    (unsigned with intercept -1024, signed with intercept 0), so windows are only comparable
    after this step. For MR and radiographs the result is in the vendor's units.
    """
    _require_grey(ds)
    if "ModalityLUTSequence" in ds:
        try:
            return np.asarray(apply_modality_lut(pixels, ds), dtype=np.float32)
        except Exception as exc:
            raise PreprocessError(f"modality LUT could not be applied: {_one_line(exc)}") from exc
    slope = _number(ds, "RescaleSlope", 1.0)
    intercept = _number(ds, "RescaleIntercept", 0.0)
    if slope == 0:
        raise PreprocessError("RescaleSlope is 0: every pixel would be the intercept")
    out = np.array(pixels, dtype=np.float32)  # always a fresh array: callers may write into it
    if slope != 1.0:
        out *= np.float32(slope)
    if intercept != 0.0:
        out += np.float32(intercept)
    return out


def window(hu: np.ndarray, center: float, width: float) -> np.ndarray:
    """A linear window as float32 in [0, 1]: ``center - width/2`` -> 0, ``center + width/2`` -> 1.

    The plain linear form (not DICOM's ``c - 0.5, w - 1`` variant) so that named windows read
    exactly: brain 40/80 maps 0 HU to 0, 40 HU to 0.5 and 80 HU to 1.
    """
    if not width > 0:
        raise ValueError(f"window width must be positive, got {width}")
    out = np.empty(np.shape(hu), np.float32)  # also for a 0-d input, so ``out=`` works below
    np.subtract(hu, np.float32(center - width / 2.0), out=out, dtype=np.float32)
    np.divide(out, np.float32(width), out=out)
    np.clip(out, 0.0, 1.0, out=out)
    return out


# (center, width) in HU. Brain for parenchymal bleeds, subdural for thin extra-axial blood next
# to the skull, bone for fractures; the three together are what radiologists page through.
WINDOWS: dict[str, tuple[float, float]] = {
    "brain": (40.0, 80.0),
    "subdural": (80.0, 200.0),
    "bone": (600.0, 2800.0),
}

_PERCENTILES = (0.5, 99.5)
_PERCENTILE_SAMPLE = 1 << 20


def _robust_range(values: np.ndarray) -> tuple[float, float]:
    # Percentiles of a strided sample: a 3000x2500 detector image has 7.5 M pixels and the
    # 0.5/99.5 percentiles of a regular 1 M sample differ from the full ones by far less than a
    # grey level, at a tenth of the cost.
    stride = max(1, math.ceil(math.sqrt(values.size / _PERCENTILE_SAMPLE)))
    sample = values[..., ::stride, ::stride]
    lo, hi = np.percentile(sample, _PERCENTILES)
    return float(lo), float(hi)


def _present(
    ds: Dataset, pixels: np.ndarray, *, from_colour: bool = False
) -> tuple[np.ndarray, list[str]]:
    """``present`` with the header's modality LUT, VOI and photometric interpretation; grey
    made from an RGB picture (``from_colour``) has no modality LUT to apply."""
    center = _number(ds, "WindowCenter")
    width = _number(ds, "WindowWidth")
    voi = (center, width) if center is not None and width is not None and width > 0 else None
    return present(
        pixels.astype(np.float32) if from_colour else to_hounsfield(ds, pixels),
        voi=voi,
        voi_function=_text(ds, "VOILUTFunction").upper() or "LINEAR",
        monochrome1=_text(ds, "PhotometricInterpretation").upper() == "MONOCHROME1",
    )


def present(
    values: np.ndarray,
    *,
    voi: tuple[float, float] | None,
    voi_function: str = "LINEAR",
    monochrome1: bool = False,
) -> tuple[np.ndarray, list[str]]:
    """Modality values to [0, 1], bright = dense: the header's VOI or percentiles, then MONO1.

    ``presentation`` for a dataset; this is the same arithmetic on an array and the header's
    values, which is how the training phantoms go through exactly the hospital's path.
    """
    notes: list[str] = []
    if voi is not None:
        center, width = voi
        if voi_function == "SIGMOID":
            out = values - np.float32(center)
            out *= np.float32(-4.0 / width)
            np.exp(out, out=out)
            out += 1.0
            np.reciprocal(out, out=out)
        else:
            out = window(values, center, width)
        notes.append(
            f"VOI {voi_function.lower()} window {_fmt(center)}/{_fmt(width)} from the header"
        )
    else:
        lo, hi = _robust_range(values)
        if hi > lo:
            out = window(values, (lo + hi) / 2.0, hi - lo)
        else:
            out = np.zeros(values.shape, np.float32)
            notes.append("constant image")
        notes.append(f"no VOI window in the header: scaled {_PERCENTILES} percentiles to 0-1")
    if monochrome1:
        np.subtract(np.float32(1.0), out, out=out)
        notes.append("MONOCHROME1 inverted so that bright = dense")
    return out, notes


def presentation(ds: Dataset, pixels: np.ndarray) -> np.ndarray:
    """A projection radiograph as float32 in [0, 1] with bright = dense, whatever the vendor.

    ``pixels`` are the decoded stored values (``pixel_array``); the modality LUT is applied here,
    as the standard's pipeline applies it before the VOI. The VOI is the header's
    WindowCenter/WindowWidth when present (the first pair; the modality chose it for this
    exposure), else the 0.5/99.5 percentiles mapped to 0-1 so one hot pixel or the collimator
    edge does not set the range. VOI LUT sequences are not applied (the window or percentiles
    are used instead). MONOCHROME1 (Fuji and most CR write it: high values = little exposure) is
    inverted last, so a model never sees lungs bright on one vendor and dark on another.
    """
    return _present(ds, pixels)[0]


# --------------------------------------------------------------------------------------------
# Geometry


def _normal(ds: Dataset) -> np.ndarray | None:
    """The unit slice normal (row direction x column direction), or None without geometry."""
    iop = _floats(ds, "ImageOrientationPatient", 6)
    if iop is None:
        return None
    normal = np.cross(iop[:3], iop[3:])
    length = float(np.linalg.norm(normal))
    return normal / length if length > 0.5 else None


_PLANES = ("sagittal", "coronal", "axial")  # the patient axis the slice normal is closest to


def _plane(normal: np.ndarray) -> str:
    return _PLANES[int(np.argmax(np.abs(normal)))]


def _positions(datasets: Sequence[Dataset]) -> tuple[np.ndarray | None, str]:
    """Each slice's position along the shared slice normal (mm), or None and why not."""
    normals = [_normal(ds) for ds in datasets]
    if any(n is None for n in normals):
        return None, "no usable ImageOrientationPatient on every slice"
    reference = normals[0]
    if any(abs(float(np.dot(reference, n))) < 0.999 for n in normals):
        return None, "slices have different orientations"
    points = [_floats(ds, "ImagePositionPatient", 3) for ds in datasets]
    if any(p is None for p in points):
        return None, "no usable ImagePositionPatient on every slice"
    return np.array([float(np.dot(p, reference)) for p in points]), ""


def _instance_number(ds: Dataset) -> float:
    try:
        return float(_first(ds.get("InstanceNumber")))
    except (TypeError, ValueError):
        return math.inf


def sort_slices(datasets: Iterable[Dataset], *, notes: list[str] | None = None) -> list[Dataset]:
    """Slices in anatomical order, ascending along the slice normal (feet to head for axial).

    Position is ImagePositionPatient projected on the normal of ImageOrientationPatient, which
    is right for tilted and oblique stacks where sorting by z or SliceLocation is not;
    InstanceNumber is the fallback when geometry is missing or inconsistent, and arrival order
    the last resort. The same SOP instance received twice is kept once; two instances at the
    same position (to 1 micrometre; a re-sent or re-reconstructed slice) are kept once, the
    lower InstanceNumber. Every such decision is appended to ``notes`` when given, so the run
    record says what was dropped.
    """
    notes = notes if notes is not None else []
    received = list(datasets)
    unique: dict[tuple[str, int], Dataset] = {}
    for ds in received:
        # An enhanced instance's frames share its UID and differ by frame.
        frame = ds.index if isinstance(ds, EnhancedFrame) else -1
        unique.setdefault((str(ds.get("SOPInstanceUID", id(ds))), frame), ds)
    items = list(unique.values())
    if len(items) < len(received):
        notes.append(f"{len(received) - len(items)} instance(s) received more than once, kept once")
    if not items:
        return []
    positions, why = _positions(items)
    numbers = np.array([_instance_number(ds) for ds in items])
    if positions is None:
        if np.all(np.isinf(numbers)):
            notes.append(f"{why} and no InstanceNumber: slices kept in arrival order")
            return items
        notes.append(f"{why}: slices ordered by InstanceNumber")
        order = np.argsort(numbers, kind="stable")
        return [items[i] for i in order]
    order = np.lexsort((numbers, positions))
    kept: list[int] = []
    dropped: list[str] = []
    for i in order:
        if kept and abs(positions[i] - positions[kept[-1]]) < 1e-3:
            dropped.append(str(items[i].get("SOPInstanceUID", "?")))
            continue
        kept.append(int(i))
    if dropped:
        notes.append(
            f"dropped {len(dropped)} slice(s) at a position already taken: {', '.join(dropped)}"
        )
    return [items[i] for i in kept]


def _pixel_spacing(ds: Dataset) -> tuple[float, float] | None:
    """(row spacing, column spacing) in mm: PixelSpacing, else the detector's for radiographs."""
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        values = _floats(ds, keyword, 2)
        if values is not None and np.all(values > 0):
            return float(values[0]), float(values[1])
    return None


# --------------------------------------------------------------------------------------------
# Enhanced (multi-frame) images


# Top-level elements a frame does not inherit: the pixels are the frame's own, and the
# functional groups are unpacked into it.
_NOT_INHERITED = frozenset(Tag(keyword) for keyword in (
    "PixelData", "FloatPixelData", "DoubleFloatPixelData", "NumberOfFrames",
    "PerFrameFunctionalGroupsSequence", "SharedFunctionalGroupsSequence",
    "ExtendedOffsetTable", "ExtendedOffsetTableLengths",
))  # fmt: skip
_IMAGE_TYPE = Tag("ImageType")
_SERIES_UID = Tag("SeriesInstanceUID")


class _FrameSource:
    """One multi-frame instance, decoded once for all its frames and only when asked."""

    def __init__(self, ds: Dataset) -> None:
        self.ds = ds
        self._frames: np.ndarray | None = None

    def frame(self, index: int) -> np.ndarray:
        if self._frames is None:
            pixels = pixel_array(self.ds)
            self._frames = pixels if pixels.ndim == 3 else pixels[None]
        return self._frames[index]


class EnhancedFrame(Dataset):
    """One frame of an enhanced image, as the single-frame slice it stands for.

    Enhanced CT (and MR) scanners write a whole series as one instance: the frames share the
    top-level header, and what a single-frame slice carries at the top (ImagePositionPatient,
    ImageOrientationPatient, PixelSpacing, SliceThickness, the rescale, the frame type) lives
    in functional groups, shared or per frame. Unpacked here, every later step (selection,
    sorting, decoding, HU, framing, input checks) reads the frames as it reads slices.

    The frames of an instance share its elements rather than copy them (a 300-frame instance
    would otherwise cost a second of copying): setting a keyword on a frame replaces the
    element in that frame alone, and nothing here changes an element in place.
    """

    def __init__(
        self, elements: dict, source: _FrameSource, index: int, *, stacked: bool = False
    ) -> None:
        super().__init__(elements)
        self.source = source
        self.index = index
        # Placed by ``_stacked_frames`` (no functional groups), not by the scanner.
        self.stacked = stacked

    def __setattr__(self, name: str, value) -> None:
        tag = tag_for_keyword(name)
        if tag is not None and tag in self._dict:
            del self[tag]  # a shared element is replaced, never changed for every frame
        super().__setattr__(name, value)


def _macro_elements(groups: Dataset | None) -> dict:
    """A functional groups item's macros (each a one-item sequence) as top-level elements."""
    elements: dict = {}
    for element in groups or ():
        if element.VR != "SQ" or not element.value:
            continue
        for inner in element.value[0]:
            if inner.keyword == "FrameType":
                # CT/MR Image Frame Type: the frame's ImageType (ORIGINAL, PRIMARY, LOCALIZER).
                elements[_IMAGE_TYPE] = DataElement(_IMAGE_TYPE, "CS", inner.value)
            else:
                elements[inner.tag] = inner
    return elements


def _inherited(ds: Dataset) -> dict:
    """The instance's elements as read (pydicom keeps them raw until used), less those a frame
    has of its own: its frames share them, and each converts only what it is asked for."""
    return {tag: value for tag, value in ds._dict.items() if tag not in _NOT_INHERITED}


def _stacked_frames(ds: Dataset) -> list[Dataset]:
    """A multi-frame CT without functional groups as its frames, each placed along the slice
    normal from the instance's ImagePositionPatient every SpacingBetweenSlices (else
    SliceThickness) mm; [] when it is not one or does not say enough to place them.

    Not a standard CT object, but what a volume converter or a home-made sender writes for a
    whole volume in one file: its frames are taken at their order, as a reader scrolling them
    would take them, and the run says so.
    """
    frames = int(_number(ds, "NumberOfFrames", 1) or 1)
    if frames < 2 or _text(ds, "Modality").upper() != "CT":
        return []
    iop, ipp = _floats(ds, "ImageOrientationPatient", 6), _floats(ds, "ImagePositionPatient", 3)
    try:
        step = _number(ds, "SpacingBetweenSlices") or _number(ds, "SliceThickness")
    except PreprocessError:
        step = None
    if iop is None or ipp is None or not step or step <= 0:
        return []
    normal = np.cross(iop[:3], iop[3:])
    source = _FrameSource(ds)
    shared = _inherited(ds)
    out: list[Dataset] = []
    for index in range(frames):
        position = [round(float(v), 4) for v in ipp + index * float(step) * normal]
        element = DataElement(Tag("ImagePositionPatient"), "DS", position)
        frame = EnhancedFrame({**shared, element.tag: element}, source, index, stacked=True)
        frame.file_meta = getattr(ds, "file_meta", None) or Dataset()
        out.append(frame)
    return out


def frames_as_slices(datasets: Sequence[Dataset]) -> list[Dataset]:
    """The series with every enhanced multi-frame instance replaced by its frames, in order.

    Single-frame instances pass through untouched. A multi-frame CT without functional groups
    is stacked along its slice normal when its header says how (``_stacked_frames``); any
    other (an old-style cine or nuclear medicine object) passes through, and the steps after
    refuse it with their own reason. No pixel is decoded here: a frame's pixels are decoded
    with its instance's, the first time one of them is read.
    """
    out: list[Dataset] = []
    for ds in datasets:
        per_frame = ds.get("PerFrameFunctionalGroupsSequence")
        if not per_frame:
            out.extend(_stacked_frames(ds) or [ds])
            continue
        source = _FrameSource(ds)
        shared = _inherited(ds)
        shared.update(_macro_elements((ds.get("SharedFunctionalGroupsSequence") or [None])[0]))
        for index, groups in enumerate(per_frame):
            frame = EnhancedFrame({**shared, **_macro_elements(groups)}, source, index)
            frame.file_meta = getattr(ds, "file_meta", None) or Dataset()
            out.append(frame)
    return out


# --------------------------------------------------------------------------------------------
# Series selection


@dataclass(frozen=True)
class SeriesRule:
    """What series a model accepts. Empty ``body_parts`` means any body part.

    ``orientation`` is "any", "axial", "coronal" or "sagittal": the patient axis the slice
    normal is closest to (so a gantry-tilted head CT is still axial).
    ``slice_thickness_mm`` is an inclusive (min, max); a series without SliceThickness passes.
    ``body_part_from_images``: a series whose header names no body part at all (no
    BodyPartExamined, no body part in its descriptions) still qualifies, after every series
    whose header names the rule's; the images must then show it (``prepare_input`` is told).
    """

    name: str
    modalities: frozenset[str]
    body_parts: frozenset[str] = frozenset()
    orientation: str = "any"
    slice_thickness_mm: tuple[float, float] | None = None
    min_instances: int = 1
    require_original_primary: bool = True
    body_part_from_images: bool = False

    def __post_init__(self):
        if self.orientation not in ("any", *_PLANES):
            raise ValueError(f"orientation must be any or one of {_PLANES}")
        object.__setattr__(self, "modalities", frozenset(m.upper() for m in self.modalities))
        object.__setattr__(self, "body_parts", frozenset(b.upper() for b in self.body_parts))


# A head CT for bleed triage: thin enough that a 3 mm subdural is not averaged away, thick
# enough to be a diagnostic reconstruction rather than a raw thin-slice dump; ten slices is a
# floor that excludes reference images and partial series, not a coverage guarantee.
CT_HEAD = SeriesRule(
    name="ct-head",
    modalities=frozenset({"CT"}),
    body_parts=frozenset({"HEAD", "BRAIN", "SKULL"}),
    orientation="axial",
    # Thin (0.5-1 mm) to the thick axial reconstructions many hospitals still send (5-10 mm);
    # thicker is a scout-like summary no head CT model should read.
    slice_thickness_mm=(0.5, 10.0),
    min_instances=10,
    # A skull closed around brain is unmistakable in the pixels (``framing.cranial_share``);
    # a studied phantom or a bare modality often writes no body part at all.
    body_part_from_images=True,
)
CHEST_RADIOGRAPH = SeriesRule(
    name="chest-radiograph",
    modalities=frozenset({"CR", "DX"}),
    body_parts=frozenset({"CHEST", "THORAX", "LUNG"}),
    orientation="any",
    min_instances=1,
    # Lung fields on both sides are plain on a frontal film (``quality.lung_fields``).
    body_part_from_images=True,
)


@dataclass
class SelectedSeries:
    """The series chosen, its usable instances, and why every other series was not."""

    series_instance_uid: str
    datasets: list[Dataset]
    reason: str
    rejected: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # The header names no body part: the images must show the rule's (SeriesRule).
    body_part_from_images: bool = False


_NOT_PRIMARY_TOKENS = {"LOCALIZER", "SCOUT", "TOPOGRAM"}


def _image_type_values(ds: Dataset) -> list[str]:
    """ImageType's values, upper case ([] when absent)."""
    value = ds.get("ImageType")
    if value is None or value == "":
        return []
    values = [str(v).strip().upper() for v in (value if isinstance(value, MultiValue) else [value])]
    if len(values) == 1 and " " in values[0]:
        # Written with spaces for backslashes, as some older modalities did (GDCM's sample CR
        # of a real chest says "ORIGINAL PRIMARY"): the same values, one wrong separator.
        values = values[0].split()
    return values


def _image_type_problem(ds: Dataset) -> str:
    """Why an instance is not an original primary acquisition ("" when it is, or unknown)."""
    values = _image_type_values(ds)
    if not values:
        return ""
    shown = "\\".join(values)
    if values[0] != "ORIGINAL":
        return f"ImageType {shown} is not ORIGINAL"
    if len(values) < 2 or values[1] != "PRIMARY":
        return f"ImageType {shown} is not PRIMARY"
    if _NOT_PRIMARY_TOKENS.intersection(values):
        return f"ImageType {shown} is a localizer"
    return ""


# Derived images that are not slices of the anatomy as acquired: projections and renderings
# (MIP, MinIP, volume rendering, shaded surfaces), subtractions, perfusion maps, screen saves.
_NOT_A_SLICE = {"MIP", "MINIP", "MAXIP", "MNIP", "VRT", "VR", "VOLUME", "SSD", "3D", "PROJECTION",
                "SUBTRACTION", "SUB", "DSA", "PERFUSION", "CBF", "CBV", "MTT", "TTP", "TMAX",
                "SCREEN", "SCREENSAVE", "DOSE", "COLOR", "FUSION"}  # fmt: skip


def _derived_reconstruction(ds: Dataset) -> str:
    """ImageType, shown, when the instance is a derived slice of the anatomy ("" otherwise)."""
    values = _image_type_values(ds)
    if not values or values[0] != "DERIVED" or _NOT_PRIMARY_TOKENS.intersection(values):
        return ""
    words = set(values) | _words(_text(ds, "SeriesDescription"))
    return "" if words & _NOT_A_SLICE else "\\".join(values)


def _words(text: str) -> set[str]:
    return {w for w in re.split(r"[^A-Z0-9]+", text.upper()) if w}


def mentions(text: str, terms: Iterable[str]) -> bool:
    """Whether a description names one of ``terms``: an English term as a whole word, any
    case; a Korean, Chinese or Japanese one anywhere in the text, since those languages put
    no space between words ("头颅CT平扫")."""
    words = _words(text)
    return any((term.upper() in words) if term.isascii() else (term in text) for term in terms)


# What a description calls a body part, for the studies whose BodyPartExamined is empty (many
# sites leave it so): English words, and the Korean, Chinese and Japanese a description is
# written in ("뇌 CT 조영전", "头颅CT平扫", "胸部正位"). Words that also mean something else are
# left out (폐 alone is in 장폐쇄, bowel obstruction).
_HEAD_WORDS = ("HEAD", "BRAIN", "SKULL", "CRANIAL", "CRANIUM", "CEREBRAL",
               "뇌", "두부", "머리", "두개", "头", "颅", "脑", "頭", "顱", "腦", "脳")  # fmt: skip
_CHEST_WORDS = ("CHEST", "THORAX", "THORACIC", "LUNG", "LUNGS",
                "흉부", "가슴", "胸", "肺")  # fmt: skip
_DESCRIBED_AS = {
    **dict.fromkeys(("HEAD", "BRAIN", "SKULL"), _HEAD_WORDS),
    **dict.fromkeys(("CHEST", "THORAX", "LUNG"), _CHEST_WORDS),
}
# Every other body part a description may name (BodyPartExamined's defined terms and what
# descriptions say instead, in the same languages). A header naming one of these says what
# was scanned, and it is not for a head or chest model; the parts of the head that are not
# the brain (sinuses, orbits, face, temporal bones, teeth) are among them.
_OTHER_BODY_PART_WORDS = (
    "ABDOMEN", "ABD", "ABDO", "PELVIS", "PELVIC", "SPINE", "CSPINE", "TSPINE", "LSPINE",
    "CERVICAL", "THORACOLUMBAR", "LUMBAR", "SACRUM", "COCCYX", "NECK", "SINUS", "SINUSES",
    "ORBIT", "ORBITS", "FACE", "FACIAL", "MAXILLOFACIAL", "TEMPORAL", "IAC", "MANDIBLE",
    "DENTAL", "TMJ", "SHOULDER", "HUMERUS", "ELBOW", "FOREARM", "WRIST", "HAND", "FINGER",
    "HIP", "FEMUR", "KNEE", "LEG", "TIBIA", "ANKLE", "FOOT", "EXTREMITY", "CARDIAC", "HEART",
    "CORONARY", "LIVER", "KIDNEY", "RENAL", "BLADDER", "PROSTATE", "BREAST", "WHOLEBODY",
    "복부", "골반", "척추", "경추", "요추", "흉추", "목", "부비동", "안와", "얼굴", "안면", "어깨",
    "무릎", "손", "발", "심장", "간", "신장", "유방",
    "腹", "盆腔", "骨盆", "脊", "颈", "頸", "腰", "鼻窦", "副鼻腔", "眼眶", "面", "肩", "膝",
    "手", "足", "心脏", "心臓", "肝", "肾", "腎", "乳",
)  # fmt: skip
_ANY_BODY_PART_WORDS = (*_HEAD_WORDS, *_CHEST_WORDS, *_OTHER_BODY_PART_WORDS)


def _described(text: str, body_parts: Iterable[str]) -> bool:
    """Whether a description names one of the body parts, in any language we read."""
    return any(mentions(text, _DESCRIBED_AS.get(part, (part,))) for part in body_parts)


def _body_part_problem(ds: Dataset, rule: SeriesRule) -> tuple[str, bool]:
    """(why the header's body part is not the rule's, "" when it is; whether the header names
    no body part at all and the rule lets the images decide)."""
    if not rule.body_parts:
        return "", False
    body_part = _text(ds, "BodyPartExamined").upper()
    wanted = "/".join(sorted(rule.body_parts))
    if body_part:
        if body_part in rule.body_parts:
            return "", False
        return f"body part {body_part} is not {wanted}", False
    # Many sites leave BodyPartExamined empty; the descriptions still say what was scanned.
    text = " ".join(_text(ds, k) for k in ("StudyDescription", "SeriesDescription", "ProtocolName"))
    if _described(text, rule.body_parts):
        return "", False
    if rule.body_part_from_images and not mentions(text, _ANY_BODY_PART_WORDS):
        return "", True
    return f"no BodyPartExamined and no {wanted} in the study or series description", False


def _thickness(datasets: Sequence[Dataset]) -> float | None:
    values = []
    for ds in datasets:
        try:
            value = _number(ds, "SliceThickness")
        except PreprocessError:
            value = None
        if value is not None:
            values.append(value)
    return float(np.median(values)) if values else None


class _Evaluation(NamedTuple):
    """One series judged against a rule (``_evaluate``)."""

    usable: list[Dataset]
    problems: list[str]  # why the series is rejected; none when it qualifies
    notes: list[str]
    # The header names no body part, so the images must show it (``_body_part_problem``).
    from_images: bool = False
    # No orientation in the header, so the rule's plane is assumed (``_orientation_problem``).
    plane_assumed: bool = False


def _evaluate(datasets: Sequence[Dataset], rule: SeriesRule) -> _Evaluation:
    """One series' usable instances, the problems that reject it, and its notes."""
    first = datasets[0]
    modality = _text(first, "Modality").upper()
    if modality not in rule.modalities:
        wanted = "/".join(sorted(rule.modalities))
        return _Evaluation([], [f"modality {modality or 'missing'} is not {wanted}"], [])
    notes: list[str] = []
    # Only a series of the rule's modality is worth unpacking (a frame costs about 1 ms).
    slices = frames_as_slices(datasets)
    if len(slices) != len(datasets):
        notes.append(f"{len(datasets)} enhanced instance(s) read as {len(slices)} frames")
    if any(getattr(s, "stacked", False) for s in slices):
        notes.append(
            "frames without per-frame positions stacked in their stored order along the slice "
            "normal, SpacingBetweenSlices (or SliceThickness) apart"
        )
    datasets = slices
    usable = list(datasets)
    if rule.require_original_primary:
        verdicts = [(ds, _image_type_problem(ds)) for ds in datasets]
        usable = [ds for ds, problem in verdicts if not problem]
        if not usable:
            # Derived slices (a reformat, a thick-slab average) are read when nothing
            # original qualifies (``select_series`` ranks them after), projections never.
            usable = [ds for ds in datasets if _derived_reconstruction(ds)]
        if not usable:
            return _Evaluation([], [verdicts[0][1]], [])
        if len(usable) < len(datasets):
            # A localizer inside an axial series (some scanners do this) is dropped, not fatal.
            notes.append(
                f"dropped {len(datasets) - len(usable)} non-original/localizer instance(s)"
            )
    body_part, from_images = _body_part_problem(first, rule)
    orientation, plane_assumed = _orientation_problem(usable, rule)
    if plane_assumed:
        notes.append(
            f"no ImageOrientationPatient and no plane in ImageType: taken as "
            f"{rule.orientation}, slices in InstanceNumber order"
        )
    problems = [p for p in (body_part, orientation, _thickness_problem(usable, rule)) if p]
    if len(usable) < rule.min_instances:
        problems.append(f"{len(usable)} instance(s), rule needs at least {rule.min_instances}")
    return _Evaluation(usable, problems, notes, from_images, plane_assumed)


_PLANE_WORDS = {"AXIAL", "CORONAL", "SAGITTAL", "OBLIQUE"}


def _orientation_problem(usable: Sequence[Dataset], rule: SeriesRule) -> tuple[str, bool]:
    """(why the instances are not all in the rule's plane, "" when they are or any will do;
    whether that plane is only assumed: no ImageOrientationPatient, no plane in ImageType)."""
    if rule.orientation == "any":
        return "", False
    normals = [_normal(ds) for ds in usable]
    if any(n is None for n in normals):
        # A header without the geometry (invalid for CT, yet sent by home-made and older
        # senders) is taken at its ImageType's word (ORIGINAL\PRIMARY\AXIAL), as a reader
        # would; one naming no plane is taken as the rule's (a CT series is axial unless it
        # says otherwise).
        named = {v for ds in usable for v in _image_type_values(ds)} & _PLANE_WORDS
        if named - {rule.orientation.upper()}:
            shown = "/".join(sorted(named))
            return f"no ImageOrientationPatient, and ImageType says {shown}", False
        said = all(rule.orientation.upper() in _image_type_values(ds) for ds in usable)
        return "", not said
    if any(abs(float(np.dot(normals[0], n))) < 0.99 for n in normals):
        return "instances have different orientations", False
    if (plane := _plane(normals[0])) != rule.orientation:
        return f"{plane} orientation, rule needs {rule.orientation}", False
    return "", False


def _thickness_problem(usable: Sequence[Dataset], rule: SeriesRule) -> str:
    """Why the series' SliceThickness is out of the rule's range ("" when in it or unknown)."""
    if rule.slice_thickness_mm is None:
        return ""
    thickness = _thickness(usable)
    low, high = rule.slice_thickness_mm
    if thickness is not None and not low <= thickness <= high:
        return f"slice thickness {_fmt(thickness)} mm outside {_fmt(low)}-{_fmt(high)} mm"
    return ""


# A contrast-enhanced acquisition, by what its header says (the head model reads non-contrast CT;
# ``quality.head_ct_checks`` refuses one, ``select_series`` ranks one after the others).
# Whole words; not \b at the ends, which a word ending in "+" or "-" ("HEAD C+") never meets.
_CONTRAST_WORDS = re.compile(
    r"(?<![A-Z0-9])(CTA|ANGIO\w*|C\+|W\s*CONTRAST|WITH\s+CONTRAST|POST\s*CONTRAST)(?![A-Z0-9])"
)
_NON_CONTRAST_WORDS = re.compile(
    r"(?<![A-Z0-9])(NON[-\s]?CONTRAST|WITHOUT\s+CONTRAST|W/?O|C-|PLAIN)(?![A-Z0-9])"
)
# The same in the Korean, Chinese and Japanese descriptions hospitals write: 조영 (contrast;
# 조영증강, 조영후, 혈관조영), 增强/増強 (enhanced), 造影 (contrast study), 血管成像 (angiography);
# and what says it is not: 비조영 and 조영전 (without, before contrast), 단순 and 平扫/平掃/単純
# (plain scan), 非增强 (non-enhanced).
_CONTRAST_CJK = ("조영", "增强", "増強", "增強", "造影", "血管成像")
_NON_CONTRAST_CJK = (
    "비조영",
    "조영전",
    "조영 전",
    "단순",
    "平扫",
    "平掃",
    "単純",
    "非增强",
    "非造影",
)


def contrast_problem(
    ds: Dataset, keywords: Sequence[str] = ("SeriesDescription", "StudyDescription", "ProtocolName")
) -> str:
    """Why this looks like a contrast-enhanced acquisition ("" when nothing says so): its
    ContrastBolusAgent, or one of the descriptions ``keywords`` names."""
    agent = _text(ds, "ContrastBolusAgent").upper()
    if agent and agent not in ("NONE", "NO", "N/A", "0"):
        return f"ContrastBolusAgent is {agent!r}"
    for keyword in keywords:
        text = _text(ds, keyword)
        words = text.upper()
        if _CONTRAST_WORDS.search(words) and not _NON_CONTRAST_WORDS.search(words):
            return f"{keyword} {text!r} describes a contrast study"
        if mentions(text, _CONTRAST_CJK) and not mentions(text, _NON_CONTRAST_CJK):
            return f"{keyword} {text!r} describes a contrast study"
    return ""


# A CT reconstructed for bone (a sharp kernel, a bone window) is noisy where the brain is:
# a head CT usually comes with one beside the soft-tissue series, often thinner and so with
# more slices, and the models read soft tissue. GE names its sharp kernels (BONE, BONEPLUS,
# EDGE, LUNG); Siemens numbers them (H70h, Hr64, J70h, Br64: 60 and above are sharp).
_SHARP_KERNEL_WORDS = ("BONE", "EDGE", "LUNG", "SHARP")
_NUMBERED_KERNEL = re.compile(r"^[A-Z][a-z]?(\d{2})[a-z]?$")
_BONE_DESCRIPTION = ("BONE", "BONES", "骨", "뼈")


def _bone_reconstruction(ds: Dataset) -> str:
    """Why a CT series looks reconstructed for bone ("" when it does not, or is not CT)."""
    if _text(ds, "Modality").upper() != "CT":
        return ""
    value = ds.get("ConvolutionKernel")
    kernel = (
        " ".join(map(str, value))
        if isinstance(value, MultiValue)
        else _text(ds, "ConvolutionKernel")
    )
    numbered = _NUMBERED_KERNEL.match(kernel.split()[0]) if kernel.strip() else None
    if any(word in kernel.upper() for word in _SHARP_KERNEL_WORDS) or (
        numbered and int(numbered.group(1)) >= 60
    ):
        return f"kernel {kernel.strip()}"
    description = _text(ds, "SeriesDescription")
    if mentions(description, _BONE_DESCRIPTION):
        return f"series {description!r}"
    try:
        center = _number(ds, "WindowCenter")
    except PreprocessError:
        center = None
    if center is not None and center >= 200:
        return f"window centre {center:g}"
    return ""


def _split_series(
    series: Sequence[Sequence[Dataset]], rule: SeriesRule
) -> list[tuple[list[Dataset], list[Dataset]]]:
    """One series split into many: single-instance series of the rule's modality that share a
    frame of reference, an orientation, a matrix and a pixel spacing, as one series each.

    A sender that gives every slice a SeriesInstanceUID of its own (a converter, a script, a
    PACS exporting slice by slice) splits a head CT into forty series of one image, none of
    which a model can read. Regrouped, they are offered to ``select_series`` as one more
    series (under the first one's UID, each instance copied, never changed), after which the
    rule decides as for any other, in place of the single ones (which one instance each could
    never qualify). Returns (the single ones' instances, their regrouped copies) per group.
    """
    if rule.min_instances <= 1:
        return []
    groups: dict[tuple, list[Dataset]] = {}
    for datasets in series:
        if len(datasets) != 1:
            continue
        ds = datasets[0]
        if _text(ds, "Modality").upper() not in rule.modalities:
            continue
        orientation = _floats(ds, "ImageOrientationPatient", 6)
        spacing = _pixel_spacing(ds)
        key = (
            _text(ds, "FrameOfReferenceUID"),
            None if orientation is None else tuple(np.round(orientation, 3)),
            int(ds.get("Rows") or 0), int(ds.get("Columns") or 0),
            None if spacing is None else tuple(round(v, 4) for v in spacing),
        )  # fmt: skip
        groups.setdefault(key, []).append(ds)
    merged = []
    for members in groups.values():
        if len(members) < rule.min_instances:
            continue
        uid = _text(members[0], "SeriesInstanceUID")
        regrouped = []
        for ds in members:
            copied = Dataset(dict(ds._dict))  # the elements shared, the series' UID its own:
            # a new element, since setting a keyword changes the shared element in place
            copied[_SERIES_UID] = DataElement(_SERIES_UID, "UI", uid)
            copied.file_meta = getattr(ds, "file_meta", None) or Dataset()
            regrouped.append(copied)
        merged.append((members, regrouped))
    return merged


def _candidate(uid: str, datasets: Sequence[Dataset], judged: _Evaluation) -> tuple:
    """A series that qualified: (sort key, uid, usable instances, thickness, notes, second
    choices with why, coverage), as ``select_series`` ranks them."""
    usable = judged.usable
    thickness = _thickness(usable)
    try:
        number = _number(datasets[0], "SeriesNumber", math.inf)
    except PreprocessError:
        number = math.inf
    # Second choices, each with why: a contrast series (a study with and without contrast
    # has both, and the models read the one without), a bone reconstruction, derived
    # slices. Contrast by the series' own header: the study's description is the same for
    # every series of it.
    second = (
        contrast_problem(usable[0], ("SeriesDescription",)),
        _bone_reconstruction(usable[0]),
        _derived_reconstruction(usable[0]),
    )
    coverage = _coverage_mm(usable, thickness)
    key = (
        judged.from_images, judged.plane_assumed, bool(second[0]), bool(second[1]), bool(second[2]),
        -int((coverage or 0.0) // COVERAGE_STEP_MM), -len(usable),
        thickness if thickness is not None else math.inf, number, uid,
    )  # fmt: skip
    return key, uid, usable, thickness, judged.notes, second, coverage


def _chosen_notes(
    notes: list[str], second: tuple[str, ...], from_images: bool, rule: SeriesRule
) -> list[str]:
    """The chosen series' notes, and what it was chosen as a second choice for."""
    if second[1]:
        notes = [*notes, f"read a bone reconstruction ({second[1]}): no other qualified"]
    if second[2]:
        notes = [*notes, f"read derived images ({second[2]}): no original qualified"]
    if from_images:
        notes = [
            *notes,
            "the header names no body part (BodyPartExamined, descriptions, protocol): "
            f"the images must show {'/'.join(sorted(rule.body_parts))}",
        ]
    return notes


def select_series(
    series: Sequence[Sequence[Dataset]], rule: SeriesRule
) -> tuple[SelectedSeries | None, list[tuple[str, str]]]:
    """The series ``rule`` applies to, and (SeriesInstanceUID, reason) for every other one.

    Returns ``(selected, rejected)``; ``selected`` is None when nothing qualifies, and
    ``rejected`` then says why for each series (the same list is ``selected.rejected``). A
    series qualifies when its modality and body part match, its instances are ORIGINAL\\PRIMARY
    and not localizers (individual localizer instances inside a series are dropped), its slice
    normal is in the rule's plane, its SliceThickness is in range and enough instances remain.
    A series of derived slices (a reformat, a thick-slab average; never a projection such as a
    MIP) qualifies too, after every original one; so does a series whose header names no body
    part at all, when the rule lets the images decide, after every series whose header names
    the rule's. Among several: a header that names the body part before one that does not,
    a plane given by the header (ImageOrientationPatient or ImageType) before one assumed,
    a series without contrast before one with (by its ContrastBolusAgent or description),
    a soft-tissue reconstruction before a bone one (``_bone_reconstruction``), original before
    derived, then the most coverage along the slice normal (in ``COVERAGE_STEP_MM`` steps),
    the most instances, the thinnest slices, the lowest SeriesNumber, so the
    choice is deterministic and the densest sampling of the anatomy in the kernel the models
    read wins.
    """
    rejected: list[tuple[str, str]] = []
    candidates: list[tuple] = []
    groups = _split_series(series, rule)
    # A regrouped series is judged, listed and noted once, not again as each of its slices.
    in_groups = {id(ds) for singles, _ in groups for ds in singles}
    offered = [(s, False) for s in series] + [(copies, True) for _, copies in groups]
    for datasets, is_regrouped in offered:
        if len(datasets) == 1 and id(datasets[0]) in in_groups:
            continue
        if not datasets:
            rejected.append(("", "empty series"))
            continue
        uid = _text(datasets[0], "SeriesInstanceUID")
        judged = _evaluate(datasets, rule)
        if judged.problems:
            rejected.append((uid, "; ".join(judged.problems)))
            continue
        if is_regrouped:
            judged.notes.append(
                f"{len(datasets)} single-image series with one frame of reference and geometry "
                "read as one series: the sender gave every slice a series of its own"
            )
        candidates.append(_candidate(uid, datasets, judged))
    if not candidates:
        return None, rejected
    candidates.sort(key=lambda c: c[0])
    best, *others = candidates
    best_key, best_uid, best_datasets, best_thickness, best_notes, best_second, best_cover = best
    for key, uid, _, _, _, second, coverage in others:
        why = _passed_over(key, second, best_key, best_uid, (coverage, best_cover))
        rejected.append((uid, why))
    from_images = best_key[0]
    best_notes = _chosen_notes(best_notes, best_second, from_images, rule)
    thickness = f", {_fmt(best_thickness)} mm" if best_thickness is not None else ""
    reason = (
        f"{rule.name}: {_text(best_datasets[0], 'Modality')} {rule.orientation}, "
        f"{len(best_datasets)} instance(s){thickness}"
    )
    selected = SelectedSeries(
        best_uid, best_datasets, reason, rejected, best_notes, body_part_from_images=from_images
    )
    return selected, rejected


# How much of the body a series covers along its slice normal, compared in steps of this: a
# head CT reconstructed as two series (the posterior fossa thin, the cerebrum thick) or a few
# slices repeated after motion is not the whole head, however many slices it has; two whole
# heads a few millimetres apart are alike, and then the thinner slices win.
COVERAGE_STEP_MM = 25.0


def _coverage_mm(usable: Sequence[Dataset], thickness: float | None) -> float | None:
    """From the first slice to the last along the normal, plus a slice (None when unknown)."""
    positions, _ = _positions(usable)
    if positions is None or len(positions) < 2:
        return None
    return float(np.ptp(positions)) + (thickness or 0.0)


def _passed_over(
    key: tuple,
    second: tuple[str, ...],
    best_key: tuple,
    best_uid: str,
    coverages: tuple[float | None, float | None],
) -> str:
    """Why a series that qualified was not the one chosen (keys as ``select_series`` sorts)."""
    if key[0] != best_key[0]:
        return f"qualified, but its header names no body part and {best_uid}'s does"
    if key[1] != best_key[1]:
        return f"qualified, but its plane is assumed and {best_uid}'s header gives it"
    if key[2] != best_key[2]:
        return f"qualified, but contrast-enhanced ({second[0]}) and {best_uid} is not"
    if key[3] != best_key[3]:
        return f"qualified, but a bone reconstruction ({second[1]}) and {best_uid} is not"
    if key[4] != best_key[4]:
        return f"qualified, but ImageType {second[2]} is not ORIGINAL and {best_uid} is"
    if key[5] != best_key[5]:
        covers, best_covers = (f"{c:.0f} mm" if c else "unknown" for c in coverages)
        return f"qualified, but {best_uid} covers more ({best_covers} against {covers})"
    if key[6] != best_key[6]:
        return f"qualified, but {best_uid} has more instances ({-key[6]} < {-best_key[6]})"
    if key[7] != best_key[7]:
        return f"qualified, but {best_uid} has thinner slices"
    return f"qualified, but {best_uid} comes first by SeriesNumber"


def require_series(series: Sequence[Sequence[Dataset]], rule: SeriesRule) -> SelectedSeries:
    """``select_series``, raising ``NotApplicable`` (with the per-series reasons) on no match."""
    selected, rejected = select_series(series, rule)
    if selected is None:
        summary = "; ".join(f"{uid or '?'}: {why}" for uid, why in rejected) or "no series"
        raise NotApplicable(f"no series fits {rule.name} ({summary})", rejected)
    return selected


# --------------------------------------------------------------------------------------------
# Model inputs


@dataclass
class PreparedInput:
    """A model input and what it was made from.

    ``spacing_mm`` is the output array's spacing along its spatial axes (slice, row, column for
    a CT volume; row, column for a radiograph), None where the header did not say.
    """

    array: np.ndarray
    sop_instance_uids: list[str]
    series_instance_uid: str
    notes: list[str] = field(default_factory=list)
    spacing_mm: tuple[float | None, ...] = ()


# HU outside what CT stores; padding outside the reconstruction circle (-2048, -3024) would
# otherwise drag averages at the field-of-view edge below air.
_HU_RANGE = (-1024.0, 3071.0)


def _slice_spacing(datasets: Sequence[Dataset], notes: list[str]) -> float | None:
    positions, _ = _positions(datasets)
    if positions is not None and len(positions) > 1:
        steps = np.diff(positions)
        spacing = float(np.median(steps))
        if float(steps.max() - steps.min()) > max(0.1, 0.1 * spacing):
            notes.append(
                f"uneven slice spacing ({_fmt(round(float(steps.min()), 3))} to "
                f"{_fmt(round(float(steps.max()), 3))} mm): slices may be missing"
            )
        return spacing
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        try:
            value = _number(datasets[0], keyword)
        except PreprocessError:
            value = None
        if value:
            return value
    return None


def _out_spacing(ds: Dataset, size: int, notes: list[str]) -> tuple[float | None, float | None]:
    pixel = _pixel_spacing(ds)
    if pixel is None:
        notes.append("no usable PixelSpacing: in-plane spacing unknown")
        return None, None
    factor = max(int(ds.Rows), int(ds.Columns)) / size
    return pixel[0] * factor, pixel[1] * factor


def prepare_ct_volume(
    datasets: Sequence[Dataset],
    *,
    size: int = 128,
    windows: Sequence[str] = ("brain", "subdural", "bone"),
) -> PreparedInput:
    """One CT series as float32 (slices, len(windows), size, size), slices in anatomical order.

    Decode, HU, clip to the range CT stores, resize, then window: resizing HU once and windowing
    the small volume three times is ~20x cheaper than windowing full-size slices three times
    and resizing each. Windowing after the resize also keeps partial volume honest: a pixel
    half blood and half bone averages in HU, as the scanner itself would have measured it.
    Slices come from ``sort_slices`` (its notes, and spacing irregularities that suggest a
    missing slice, end up in ``notes``); one series and one matrix size are required.
    """
    unknown = [w for w in windows if w not in WINDOWS]
    if unknown or not windows:
        raise ValueError(f"unknown window(s) {unknown}: choose from {sorted(WINDOWS)}")
    hu, slices, notes, spacing = hounsfield_series(datasets)
    small = resize(hu, size)
    out = np.empty((len(slices), len(windows), size, size), np.float32)
    for k, name in enumerate(windows):
        out[:, k] = window(small, *WINDOWS[name])
    scale = max(int(slices[0].Rows), int(slices[0].Columns)) / size
    return PreparedInput(
        array=out,
        sop_instance_uids=list(dict.fromkeys(_text(ds, "SOPInstanceUID") for ds in slices)),
        series_instance_uid=_text(slices[0], "SeriesInstanceUID"),
        notes=notes,
        spacing_mm=(spacing[0], *(None if p is None else p * scale for p in spacing[1:])),
    )


def hounsfield_series(
    datasets: Sequence[Dataset],
) -> tuple[np.ndarray, list[Dataset], list[str], tuple[float | None, ...]]:
    """One CT series decoded to HU, clipped to what CT stores, slices in anatomical order.

    Returns (HU (slices, rows, cols), the sorted slices, notes, (slice, row, column) spacing in
    mm of the source, None where the header does not say). An enhanced instance counts as its
    frames (``frames_as_slices``; the slices ``select_series`` chose already are).
    """
    datasets = frames_as_slices(datasets)
    _single_ct_series(datasets)
    notes: list[str] = []
    slices = sort_slices(datasets, notes=notes)
    hu = _hounsfield_volume(slices)
    np.clip(hu, *_HU_RANGE, out=hu)
    pixel = _pixel_spacing(slices[0])
    if pixel is None:
        notes.append("no usable PixelSpacing: in-plane spacing unknown")
    slice_mm = _slice_spacing(slices, notes)
    hu, transposed, reversed_ = _axial_display(hu, slices[0], notes)
    if reversed_:
        slices = slices[::-1]
    if transposed and pixel is not None:
        pixel = (pixel[1], pixel[0])
    return hu, slices, notes, (slice_mm, *(pixel or (None, None)))


def _axial_display(hu: np.ndarray, ds: Dataset, notes: list[str]) -> tuple[np.ndarray, bool, bool]:
    """An axial volume as axial images are displayed and as the models were trained: columns
    toward the patient's left, rows toward the back, slices from the feet up.

    Scanners store the same head in other ways: feet first (left and right swapped on the
    image), prone (upside down), or with rows and columns exchanged; ImageOrientationPatient
    says which, and the pixels are flipped or transposed to match (no resampling, so a head
    stored the usual way is untouched). Returns (volume, transposed, slices reversed); a
    volume that is not axial, or has no orientation, comes back as it was.
    """
    iop = _floats(ds, "ImageOrientationPatient", 6)
    if iop is None:
        return hu, False, False
    row, column = iop[:3], iop[3:]
    along_row, along_column = int(np.argmax(np.abs(row))), int(np.argmax(np.abs(column)))
    if {along_row, along_column} != {0, 1}:
        return hu, False, False
    changes = []
    transposed = along_row == 1
    if transposed:
        hu, row, column = hu.transpose(0, 2, 1), column, row
        changes.append("rows and columns exchanged")
    if row[0] < 0:
        hu = hu[:, :, ::-1]
        changes.append("left and right swapped")
    if column[1] < 0:
        hu = hu[:, ::-1, :]
        changes.append("front and back swapped")
    # Slices were sorted along the normal, row x column: downward for some of these.
    reversed_ = float(np.cross(iop[:3], iop[3:])[2]) < 0
    if reversed_:
        hu = hu[::-1]
        changes.append("slice order reversed")
    if not changes:
        return hu, False, False
    notes.append(f"stored other than the standard axial display: {', '.join(changes)}")
    return np.ascontiguousarray(hu), transposed, reversed_


def _single_ct_series(datasets: Sequence[Dataset]) -> str:
    """The SeriesInstanceUID of slices that are one single-frame CT series (or PreprocessError)."""
    if not datasets:
        raise PreprocessError("no slices")
    series_uids = {_text(ds, "SeriesInstanceUID") for ds in datasets}
    if len(series_uids) > 1:
        raise PreprocessError(f"slices come from {len(series_uids)} series; one is needed")
    modalities = {_text(ds, "Modality").upper() for ds in datasets}
    if modalities != {"CT"}:
        raise PreprocessError(f"not CT (Modality {'/'.join(sorted(modalities))}): no HU")
    for ds in datasets:
        if (_number(ds, "NumberOfFrames", 1) or 1) > 1:
            raise PreprocessError(
                "a multi-frame CT without per-frame positions (functional groups) nor an "
                "ImagePositionPatient, ImageOrientationPatient and slice spacing to stack its "
                "frames by: they cannot be placed in a volume"
            )
    return series_uids.pop()


def _hounsfield_volume(slices: Sequence[Dataset]) -> np.ndarray:
    """The sorted slices decoded to HU, float32 (slices, rows, cols); one matrix size for all."""
    shapes = {(int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)) for ds in slices}
    if len(shapes) > 1:
        raise PreprocessError(f"slices differ in size: {sorted(shapes)}")
    rows, cols = shapes.pop()
    if rows < 1 or cols < 1:
        raise PreprocessError("no Rows/Columns")
    hu = np.empty((len(slices), rows, cols), np.float32)
    for i, ds in enumerate(slices):
        pixels = pixel_array(ds)
        if pixels.shape != (rows, cols):
            raise PreprocessError(f"slice {i} decoded to {pixels.shape}, expected {rows}x{cols}")
        hu[i] = to_hounsfield(ds, pixels)
    return hu


def _radiograph_display(
    image: np.ndarray, ds: Dataset, notes: list[str]
) -> tuple[np.ndarray, bool]:
    """A frontal radiograph as it is displayed and as the chest model was trained: the
    patient's right on the viewer's left, head up (PatientOrientation L\\F).

    A film stored mirrored (R\\F: the heart on the image's left), upside down (L\\H) or on
    its side (F\\L) says so in PatientOrientation, and is flipped or transposed to match; a
    film without it, or with other directions (a lateral's A or P), is left as it came.
    Returns (image, transposed).
    """
    value = ds.get("PatientOrientation")
    values = [str(v).strip().upper() for v in value] if isinstance(value, MultiValue) else []
    if len(values) != 2 or not all(values):
        return image, False
    across, down = values[0][0], values[1][0]
    if {across, down} not in ({"L", "F"}, {"L", "H"}, {"R", "F"}, {"R", "H"}):
        return image, False
    changes = []
    transposed = across in "HF"
    if transposed:
        image, across, down = image.T, down, across
        changes.append("rows and columns exchanged")
    if across == "R":
        image = image[:, ::-1]
        changes.append("left and right swapped")
    if down == "H":
        image = image[::-1, :]
        changes.append("upside down")
    if changes:
        notes.append(f"PatientOrientation {'/'.join(values)}: {', '.join(changes)}")
    return np.ascontiguousarray(image), transposed


# A film saved as a picture and wrapped in DICOM (a screenshot, a PNG converted by hand) comes
# as RGB with three equal channels; a colour overlay or an annotated photo does not.
_GREY_TOLERANCE = 0.02


def _grey_from_colour(pixels: np.ndarray, notes: list[str]) -> np.ndarray:
    """An RGB film whose channels agree, as grey (their mean); PreprocessError when they do
    not: the models read grey-scale radiographs, never a colour picture."""
    channels = pixels.astype(np.float32)
    span = float(channels.max() - channels.min()) or 1.0
    apart = float(np.abs(channels - channels.mean(axis=-1, keepdims=True)).max()) / span
    if apart > _GREY_TOLERANCE:
        raise PreprocessError(
            f"a colour image (its red, green and blue differ by up to {apart:.0%} of its "
            "range): the model reads grey-scale radiographs"
        )
    notes.append("an RGB image whose channels are grey: read as grey")
    return channels.mean(axis=-1)


def prepare_radiograph(ds: Dataset, *, size: int = 256) -> PreparedInput:
    """One projection radiograph as float32 (1, size, size) in [0, 1], bright = dense.

    Unlike CT, the presentation (VOI and MONOCHROME1 inversion) comes before the resize: the
    percentile range must be taken over the image and not over padding, and the padding must be
    black after inversion, not white. It is one 2-D image, so the order costs milliseconds.
    """
    pixels = pixel_array(ds)
    notes: list[str] = []
    colour = pixels.ndim == 3 and pixels.shape[-1] == 3 and _number(ds, "SamplesPerPixel") == 3
    if colour:
        pixels = _grey_from_colour(pixels, notes)
    if pixels.ndim != 2:
        raise PreprocessError(
            f"a single grey-scale frame is needed, decoded shape is {pixels.shape}"
        )
    presented, presentation_notes = _present(ds, pixels, from_colour=colour)
    notes += presentation_notes
    presented, transposed = _radiograph_display(presented, ds, notes)
    array = resize(presented, size, pad_value=0.0)[None]
    row_mm, col_mm = _out_spacing(ds, size, notes)
    if transposed:
        row_mm, col_mm = col_mm, row_mm
    return PreparedInput(
        array=array,
        sop_instance_uids=[_text(ds, "SOPInstanceUID")],
        series_instance_uid=_text(ds, "SeriesInstanceUID"),
        notes=notes,
        spacing_mm=(row_mm, col_mm),
    )
