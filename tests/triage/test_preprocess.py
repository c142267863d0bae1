"""The Django-free preprocessing core of the AI triage: decode, HU, windows, resize, selection.

No database: every test here runs on pydicom datasets in memory, real files from
/work/shared/dicom and synthetic studies from the hospital simulator.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pydicom
import pydicom.pixels
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.pixels import get_encoder
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    JPEG2000,
    CTImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
    generate_uid,
)

from simulator.synthetic import SCANNERS, head_ct_volume, make_study
from triage.core.preprocess import (
    CHEST_RADIOGRAPH,
    CT_HEAD,
    WINDOWS,
    NotApplicable,
    PreprocessError,
    SeriesRule,
    pixel_array,
    prepare_ct_volume,
    prepare_radiograph,
    presentation,
    require_series,
    resize,
    select_series,
    sort_slices,
    to_hounsfield,
    window,
)

SHARED = Path(__file__).resolve().parents[3] / "shared" / "dicom"
REAL_FILES = sorted(SHARED.glob("**/*.dcm"))
CHEST_CR = SHARED / "cr-chest" / "gdcm-CR-MONO1-10-chest.dcm"
SIEMENS_CT, GE_CT, _, CANON_CT = SCANNERS["CT"]


# --------------------------------------------------------------------------------------------
# Helpers


def _head_ct(scanner=SIEMENS_CT, *, seed: int = 1, **kwargs) -> list[Dataset]:
    kwargs = {"finding": True, "slices": 8, "size": 128, **kwargs}
    rng = np.random.default_rng(seed)
    return make_study("head-ct", rng=rng, scanner=scanner, **kwargs).datasets


def _headers(
    count: int,
    *,
    modality: str = "CT",
    body_part: str | None = "HEAD",
    image_type: tuple[str, ...] | None = ("ORIGINAL", "PRIMARY", "AXIAL"),
    orientation: tuple[float, ...] = (1, 0, 0, 0, 1, 0),
    thickness: float | None = 5.0,
    series_number: int = 2,
    study_description: str = "",
    series_description: str = "",
    in_plane_drift_mm: float = 0.0,
) -> list[Dataset]:
    """A series of header-only datasets, positions stepping ``thickness`` along the normal."""
    series_uid = generate_uid()
    row, col = np.array(orientation[:3], float), np.array(orientation[3:], float)
    normal = np.cross(row, col)
    step = thickness or 5.0
    datasets = []
    for i in range(count):
        ds = Dataset()
        ds.SOPInstanceUID = generate_uid()
        ds.SeriesInstanceUID = series_uid
        ds.Modality = modality
        ds.SeriesNumber = series_number
        ds.InstanceNumber = i + 1
        if body_part is not None:
            ds.BodyPartExamined = body_part
        if image_type is not None:
            ds.ImageType = list(image_type)
        if thickness is not None:
            ds.SliceThickness = thickness
        ds.StudyDescription = study_description
        ds.SeriesDescription = series_description
        ds.ImageOrientationPatient = list(orientation)
        position = np.array([-120.0, -120.0, 0.0]) + i * step * normal
        position += i * in_plane_drift_mm * col
        ds.ImagePositionPatient = [round(float(v), 4) for v in position]
        datasets.append(ds)
    return datasets


def _ct_datasets_from_hu(hu: np.ndarray, *, spacing: float = 1.875) -> list[Dataset]:
    """A signed, intercept-0 CT series (Canon-style) holding ``hu`` exactly, one per slice."""
    series = _headers(hu.shape[0], thickness=5.0)
    for i, ds in enumerate(series):
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = CTImageStorage
        ds.Rows, ds.Columns = hu.shape[1:]
        ds.PixelSpacing = [spacing, spacing]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleSlope = 1
        ds.RescaleIntercept = 0
        ds.PixelData = np.rint(hu[i]).astype("<i2").tobytes()
    return series


def _region_mean(image: np.ndarray, rows: tuple[float, float], cols: tuple[float, float]):
    h, w = image.shape
    return float(
        image[int(rows[0] * h) : int(rows[1] * h), int(cols[0] * w) : int(cols[1] * w)].mean()
    )


# Two tiny JPEG encoders: no JPEG Baseline or JPEG Lossless encoder is installed (pylibjpeg's
# libjpeg plugin only decodes), and these two are what hospitals send most. Each Huffman table
# gives every symbol a code of one length, which is valid JPEG and keeps them short.


def _huffman(symbols: list[int], length: int) -> tuple[bytes, dict[int, tuple[int, int]]]:
    counts = [0] * 16
    counts[length - 1] = len(symbols)
    codes = {s: (i, length) for i, s in enumerate(symbols)}
    return bytes(counts) + bytes(symbols), codes


def _category(value: int) -> tuple[int, int]:
    """(SSSS, the extra bits) of a difference: negative values as their one's complement."""
    size = abs(value).bit_length()
    return size, (value if value >= 0 else value + (1 << size) - 1)


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


def _entropy_bytes(bits: list[str]) -> bytes:
    stream = "".join(bits)
    stream += "1" * (-len(stream) % 8)
    data = int(stream, 2).to_bytes(len(stream) // 8, "big") if stream else b""
    return data.replace(b"\xff", b"\xff\x00")


def _bits(value: int, length: int) -> str:
    return format(value, f"0{length}b") if length else ""


def _jpeg_lossless_sv1(image: np.ndarray, precision: int) -> bytes:
    """ITU T.81 process 14, first-order prediction (selection value 1), no point transform."""
    rows, cols = image.shape
    x = image.astype(np.int64)
    pred = np.empty_like(x)
    pred[0, 0] = 1 << (precision - 1)
    pred[0, 1:] = x[0, :-1]
    pred[1:, 0] = x[:-1, 0]
    pred[1:, 1:] = x[1:, :-1]
    diff = (x - pred + 32768) % 65536 - 32768
    table, codes = _huffman(list(range(17)), 5)
    bits = []
    for d in diff.ravel().tolist():
        size, extra = _category(d)
        code, length = codes[size]
        bits.append(_bits(code, length) + (_bits(extra, size) if size < 16 else ""))
    frame = (
        bytes([precision]) + rows.to_bytes(2, "big") + cols.to_bytes(2, "big") + b"\x01\x01\x11\x00"
    )
    return (
        b"\xff\xd8"
        + _segment(0xC3, frame)
        + _segment(0xC4, b"\x00" + table)
        + _segment(0xDA, b"\x01\x01\x00\x01\x00\x00")
        + _entropy_bytes(bits)
        + b"\xff\xd9"
    )


def _jpeg_baseline(image: np.ndarray, q: int = 2) -> bytes:
    """ITU T.81 baseline sequential DCT, 8-bit grey, a flat quantisation table of ``q``."""
    rows, cols = image.shape
    k = np.arange(8)
    dct = np.sqrt(2 / 8) * np.cos((2 * k[None, :] + 1) * k[:, None] * np.pi / 16)
    dct[0] /= np.sqrt(2)
    zigzag = sorted(
        ((r, c) for r in range(8) for c in range(8)),
        key=lambda p: (p[0] + p[1], p[0] if (p[0] + p[1]) % 2 else -p[0]),
    )
    zz_rows, zz_cols = np.array(zigzag).T
    dc_table, dc_codes = _huffman(list(range(12)), 4)
    ac_symbols = [0x00, 0xF0] + [(r << 4) | s for r in range(16) for s in range(1, 11)]
    ac_table, ac_codes = _huffman(ac_symbols, 8)

    def emit(codes, symbol, size, extra):
        code, length = codes[symbol]
        bits.append(_bits(code, length) + _bits(extra, size))

    bits: list[str] = []
    previous_dc = 0
    shifted = image.astype(np.float64) - 128.0
    for by in range(0, rows, 8):
        for bx in range(0, cols, 8):
            coefficients = dct @ shifted[by : by + 8, bx : bx + 8] @ dct.T
            zz = np.rint(coefficients / q).astype(int)[zz_rows, zz_cols].tolist()
            size, extra = _category(zz[0] - previous_dc)
            emit(dc_codes, size, size, extra)
            previous_dc = zz[0]
            run = 0
            for value in zz[1:]:
                if value == 0:
                    run += 1
                    continue
                while run > 15:
                    emit(ac_codes, 0xF0, 0, 0)
                    run -= 16
                size, extra = _category(value)
                emit(ac_codes, (run << 4) | size, size, extra)
                run = 0
            if run:
                emit(ac_codes, 0x00, 0, 0)
    frame = b"\x08" + rows.to_bytes(2, "big") + cols.to_bytes(2, "big") + b"\x01\x01\x11\x00"
    return (
        b"\xff\xd8"
        + _segment(0xDB, b"\x00" + bytes([q] * 64))
        + _segment(0xC0, frame)
        + _segment(0xC4, b"\x00" + dc_table)
        + _segment(0xC4, b"\x10" + ac_table)
        + _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
        + _entropy_bytes(bits)
        + b"\xff\xd9"
    )


def _encapsulated(ds: Dataset, uid: str, frame: bytes) -> Dataset:
    out = copy.deepcopy(ds)
    out.file_meta.TransferSyntaxUID = uid
    out.PixelData = encapsulate([frame])
    out["PixelData"].VR = "OB"
    return out


def _eight_bit(ds: Dataset) -> Dataset:
    """An 8-bit copy of a CT slice (HU -100..155 in 0..255), as secondary captures come."""
    hu = to_hounsfield(ds, pixel_array(ds))
    out = copy.deepcopy(ds)
    out.BitsAllocated = out.BitsStored = 8
    out.HighBit = 7
    out.PixelRepresentation = 0
    out.RescaleIntercept = -100
    out.RescaleSlope = 1
    out.PixelData = np.clip(np.rint(hu + 100), 0, 255).astype(np.uint8).tobytes()
    out["PixelData"].VR = "OB"
    return out


# --------------------------------------------------------------------------------------------
# Real files


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: str(p.relative_to(SHARED)))
def test_every_shared_dicom_file_decodes_and_prepares_without_error(path):
    ds = pydicom.dcmread(path)
    if ds.Modality == "CT":
        prepared = prepare_ct_volume([ds])
        assert prepared.array.shape == (1, 3, 128, 128)
        assert prepared.sop_instance_uids == [str(ds.SOPInstanceUID)]
        result = prepared.array
    elif ds.Modality in ("CR", "DX"):
        prepared = prepare_radiograph(ds)
        assert prepared.array.shape == (1, 256, 256)
        result = prepared.array
    else:
        values = to_hounsfield(ds, pixel_array(ds))
        assert values.dtype == np.float32
        assert values.shape == (ds.Rows, ds.Columns)
        windowed = window(resize(values, 128), float(ds.WindowCenter), float(ds.WindowWidth))
        presented = presentation(ds, pixel_array(ds))
        assert windowed.shape == (128, 128)
        assert presented.shape == (ds.Rows, ds.Columns)
        result = np.stack([windowed, resize(presented, 128)])
    assert result.dtype == np.float32
    assert np.all(np.isfinite(result))
    assert result.min() >= 0.0
    assert result.max() <= 1.0
    assert result.max() > result.min(), "an all-constant input means the intensities were lost"


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: str(p.relative_to(SHARED)))
def test_every_shared_dicom_file_decodes_to_exactly_what_pydicom_decodes(path):
    # Uncompressed little-endian frames are read straight from their bytes (a fast path);
    # every other file goes through pydicom. Either way the values are pydicom's own.
    ds = pydicom.dcmread(path)
    ours = pixel_array(ds)
    theirs = pydicom.pixels.pixel_array(ds)
    assert ours.dtype == theirs.dtype
    assert np.array_equal(ours, theirs)


@pytest.mark.parametrize(
    ("bits", "stored", "signed", "syntax"),
    [
        (16, 16, 1, ExplicitVRLittleEndian),
        (16, 16, 0, ImplicitVRLittleEndian),
        (16, 12, 0, ExplicitVRLittleEndian),
        (16, 12, 1, ExplicitVRLittleEndian),
        (16, 10, 1, ImplicitVRLittleEndian),
        (8, 8, 0, ExplicitVRLittleEndian),
        (8, 7, 1, ExplicitVRLittleEndian),
    ],
)
def test_native_frames_with_unused_high_bits_read_as_pydicom_reads_them(
    bits, stored, signed, syntax
):
    # Garbage in the unused high bits (some modalities leave overlay bits there) is masked for
    # unsigned pixels and replaced by the sign for signed ones, exactly as pydicom does.
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.Rows, ds.Columns, ds.SamplesPerPixel = 3, 5, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, stored, stored - 1
    ds.PixelRepresentation = signed
    raw = np.random.default_rng(bits * 100 + stored).integers(0, 1 << bits, 15)
    data = raw.astype(f"<u{bits // 8}").tobytes()
    ds.PixelData = data + b"\0" * (len(data) % 2)  # an odd length is padded, as on the wire
    ours = pixel_array(ds)
    theirs = pydicom.pixels.pixel_array(ds)
    assert ours.dtype == theirs.dtype
    assert np.array_equal(ours, theirs)
    assert ours.flags.writeable


def test_monochrome1_chest_radiograph_comes_out_with_lungs_darker_than_the_spine():
    ds = pydicom.dcmread(CHEST_CR)
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    raw = pixel_array(ds).astype(np.float32)
    image = prepare_radiograph(ds).array[0]
    right_lung, left_lung = ((0.30, 0.60), (0.16, 0.32)), ((0.30, 0.55), (0.64, 0.80))
    spine = ((0.45, 0.75), (0.44, 0.52))  # mediastinum, heart and spine overlap here
    for lung in (right_lung, left_lung):
        # Raw MONOCHROME1: air-filled lung is a high value. Presented: dark, the spine bright.
        assert _region_mean(raw, *lung) > _region_mean(raw, *spine) + 100
        assert _region_mean(image, *lung) < _region_mean(image, *spine) - 0.2


def test_monochrome1_and_monochrome2_copies_of_one_chest_present_the_same():
    def chest(monochrome1: bool) -> Dataset:
        rng = np.random.default_rng(3)
        study = make_study("chest-xr", rng=rng, size=256, monochrome1=monochrome1)
        return study.datasets[0]

    mono1, mono2 = chest(True), chest(False)
    assert mono1.PhotometricInterpretation == "MONOCHROME1"
    assert mono2.PhotometricInterpretation == "MONOCHROME2"
    a, b = prepare_radiograph(mono1).array, prepare_radiograph(mono2).array
    assert np.abs(a - b).mean() < 0.01


def test_a_radiograph_without_a_window_is_scaled_by_percentiles_and_says_so():
    ds = copy.deepcopy(pydicom.dcmread(CHEST_CR))
    del ds.WindowCenter
    del ds.WindowWidth
    prepared = prepare_radiograph(ds, size=128)
    image = prepared.array[0]
    assert prepared.array.shape == (1, 128, 128)
    assert any("percentiles" in note for note in prepared.notes)
    assert any("MONOCHROME1 inverted" in note for note in prepared.notes)
    assert 0.0 <= image.min() < 0.05
    assert 0.95 < image.max() <= 1.0


def test_real_flair_slices_shuffled_come_back_in_position_order():
    datasets = [pydicom.dcmread(p) for p in sorted((SHARED / "mr-brain-flair").glob("*.dcm"))]
    if len(datasets) < 3:
        pytest.skip("the FLAIR series is not in /work/shared/dicom")
    shuffled = [datasets[i] for i in np.random.default_rng(0).permutation(len(datasets))]
    ordered = sort_slices(shuffled)
    iop = np.array(ordered[0].ImageOrientationPatient, float)
    normal = np.cross(iop[:3], iop[3:])
    positions = [float(np.dot(np.array(ds.ImagePositionPatient, float), normal)) for ds in ordered]
    assert len(ordered) == len(datasets)
    assert np.all(np.diff(positions) > 0)
    numbers = [int(ds.InstanceNumber) for ds in ordered]
    assert numbers in (sorted(numbers), sorted(numbers, reverse=True))


# --------------------------------------------------------------------------------------------
# Transfer syntaxes


def _encoder_or_skip(uid):
    encoder = get_encoder(uid)
    if not encoder.is_available:
        missing = "; ".join(f"{k}: {', '.join(v)}" for k, v in encoder.missing_dependencies.items())
        pytest.skip(f"no {uid.name} encoder installed ({missing})")


@pytest.mark.parametrize("scanner", [SIEMENS_CT, CANON_CT], ids=["unsigned-12bit", "signed-16bit"])
@pytest.mark.parametrize(
    ("uid", "options"),
    [(RLELossless, {}), (JPEGLSLossless, {}), (JPEG2000Lossless, {})],
    ids=["rle", "jpeg-ls-lossless", "jpeg2000-lossless"],
)
def test_a_slice_compressed_losslessly_decodes_to_exactly_the_same_hu(scanner, uid, options):
    _encoder_or_skip(uid)
    ds = _head_ct(scanner)[4]
    compressed = copy.deepcopy(ds)
    compressed.compress(uid, generate_instance_uid=False, **options)
    assert compressed.file_meta.TransferSyntaxUID == uid
    expected = to_hounsfield(ds, pixel_array(ds))
    np.testing.assert_array_equal(to_hounsfield(compressed, pixel_array(compressed)), expected)


def test_a_slice_compressed_as_jpeg_lossless_sv1_decodes_to_exactly_the_same_hu():
    ds = _head_ct(SIEMENS_CT)[4]
    stored = pixel_array(ds)
    compressed = _encapsulated(
        ds, JPEGLosslessSV1, _jpeg_lossless_sv1(stored, precision=int(ds.BitsStored))
    )
    np.testing.assert_array_equal(pixel_array(compressed), stored)
    np.testing.assert_array_equal(
        to_hounsfield(compressed, pixel_array(compressed)), to_hounsfield(ds, stored)
    )


@pytest.mark.parametrize("scanner", [SIEMENS_CT, GE_CT], ids=["unsigned-12bit", "signed-16bit"])
def test_a_slice_compressed_near_losslessly_stays_within_the_jpeg_ls_error_bound(scanner):
    _encoder_or_skip(JPEGLSNearLossless)
    ds = _head_ct(scanner)[4]
    compressed = copy.deepcopy(ds)
    compressed.compress(JPEGLSNearLossless, jls_error=3)
    error = to_hounsfield(compressed, pixel_array(compressed)) - to_hounsfield(ds, pixel_array(ds))
    assert np.abs(error).max() <= 3


@pytest.mark.parametrize("scanner", [SIEMENS_CT, CANON_CT], ids=["unsigned-12bit", "signed-16bit"])
def test_a_slice_compressed_as_lossy_jpeg2000_stays_close_in_hu(scanner):
    _encoder_or_skip(JPEG2000)
    ds = _head_ct(scanner)[4]
    compressed = copy.deepcopy(ds)
    compressed.compress(JPEG2000, j2k_cr=[10])
    expected = to_hounsfield(ds, pixel_array(ds))
    error = to_hounsfield(compressed, pixel_array(compressed)) - expected
    assert np.abs(error).mean() < 6.0
    assert np.abs(error).max() < 100.0


def test_an_8_bit_slice_compressed_as_jpeg_baseline_stays_close_in_hu():
    ds = _eight_bit(_head_ct(SIEMENS_CT)[4])
    compressed = _encapsulated(ds, JPEGBaseline8Bit, _jpeg_baseline(pixel_array(ds), q=2))
    expected = to_hounsfield(ds, pixel_array(ds))
    error = to_hounsfield(compressed, pixel_array(compressed)) - expected
    assert np.abs(error).mean() < 1.0
    assert np.abs(error).max() <= 4.0


def test_a_whole_rle_series_prepares_to_exactly_the_uncompressed_result():
    datasets = _head_ct(GE_CT)
    compressed = [copy.deepcopy(ds) for ds in datasets]
    for ds in compressed:
        ds.compress(RLELossless, encoding_plugin="pydicom", generate_instance_uid=False)
    expected = prepare_ct_volume(datasets, size=64).array
    np.testing.assert_array_equal(prepare_ct_volume(compressed, size=64).array, expected)


# --------------------------------------------------------------------------------------------
# Decoding failures


def test_truncated_native_pixel_data_raises_with_expected_and_received_sizes():
    ds = copy.deepcopy(_head_ct()[0])
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 2]
    with pytest.raises(PreprocessError) as caught:
        pixel_array(ds)
    assert caught.value.reason == "pixel data truncated: expected 32768 bytes, got 16384"


def test_a_truncated_rle_fragment_raises_naming_the_transfer_syntax():
    ds = copy.deepcopy(_head_ct()[0])
    ds.compress(RLELossless, encoding_plugin="pydicom")
    data = next(generate_frames(ds.PixelData, number_of_frames=1))
    ds.PixelData = encapsulate([data[: len(data) // 3]])
    with pytest.raises(PreprocessError) as caught:
        pixel_array(ds)
    assert caught.value.reason.startswith("RLE Lossless (1.2.840.10008.1.2.5) is not decodable")


def test_a_dataset_without_pixel_data_raises_no_pixel_data():
    ds = copy.deepcopy(_head_ct()[0])
    del ds.PixelData
    with pytest.raises(PreprocessError, match=r"^no pixel data$"):
        pixel_array(ds)


def test_a_jpeg_extended_12_bit_stream_that_cannot_be_decoded_raises_naming_it():
    ds = _head_ct()[0]
    # Raw little-endian words relabelled as a JPEG stream: what a broken 12-bit sender looks
    # like to a decoder, and all that is needed to see the reason.
    fabricated = _encapsulated(ds, JPEGExtended12Bit, ds.PixelData)
    with pytest.raises(PreprocessError) as caught:
        pixel_array(fabricated)
    assert caught.value.reason.startswith(
        "JPEG Extended 12-bit (1.2.840.10008.1.2.4.51) is not decodable here"
    )


def test_a_real_12_bit_jpeg_that_libjpeg_rejects_raises_naming_it():
    from pydicom.data import get_testdata_file

    path = get_testdata_file("JPEG-lossy.dcm", download=False)
    if path is None:
        pytest.skip("pydicom's bundled JPEG-lossy.dcm (a 12-bit JPEG) is not installed")
    with pytest.raises(
        PreprocessError, match=r"^JPEG Extended 12-bit \(1\.2\.840\.10008\.1\.2\.4\.51\)"
    ):
        pixel_array(pydicom.dcmread(path))


def test_an_unknown_transfer_syntax_or_missing_one_raises_a_reason_not_a_pydicom_error():
    ds = copy.deepcopy(_head_ct()[0])
    ds.file_meta.TransferSyntaxUID = "1.2.3.4.5"
    with pytest.raises(PreprocessError, match="not a transfer syntax this service knows"):
        pixel_array(ds)
    del ds.file_meta.TransferSyntaxUID
    with pytest.raises(PreprocessError, match="no Transfer Syntax UID"):
        pixel_array(ds)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    del ds.BitsAllocated
    with pytest.raises(PreprocessError, match="no BitsAllocated"):
        pixel_array(ds)


def test_preprocess_error_and_not_applicable_are_distinct_so_the_caller_can_tell_them_apart():
    assert not issubclass(PreprocessError, NotApplicable)
    assert not issubclass(NotApplicable, PreprocessError)
    assert PreprocessError("x").reason == "x"
    assert NotApplicable("y").reason == "y"


# --------------------------------------------------------------------------------------------
# Intensities


def test_rescale_slope_and_intercept_give_hounsfield_units():
    ds = Dataset()
    ds.RescaleSlope, ds.RescaleIntercept = "1", "-1024"
    stored = np.array([[0, 24], [1024, 1064]], np.uint16)
    np.testing.assert_array_equal(to_hounsfield(ds, stored), [[-1024, -1000], [0, 40]])
    ds.RescaleSlope, ds.RescaleIntercept = "0.5", "-10"
    np.testing.assert_array_equal(to_hounsfield(ds, stored), [[-10, 2], [502, 522]])
    assert to_hounsfield(Dataset(), stored).dtype == np.float32  # no rescale: identity


def test_a_modality_lut_sequence_is_applied_instead_of_rescale():
    ds = Dataset()
    ds.RescaleSlope, ds.RescaleIntercept = "1", "-1024"  # must be ignored beside a LUT
    item = Dataset()
    item.LUTDescriptor = [4, 0, 16]
    item.ModalityLUTType = "HU"
    item.LUTData = [100, 200, 300, 400]
    ds.ModalityLUTSequence = DicomSequence([item])
    result = to_hounsfield(ds, np.array([[0, 1], [2, 9]], np.uint16))
    np.testing.assert_array_equal(result, [[100, 200], [300, 400]])
    assert result.dtype == np.float32


def test_windows_map_known_hounsfield_values_to_known_levels():
    hu = np.array([-1000.0, 0.0, 40.0, 80.0, 200.0], np.float32)
    np.testing.assert_array_equal(window(hu, *WINDOWS["brain"]), [0.0, 0.0, 0.5, 1.0, 1.0])
    np.testing.assert_allclose(window(hu, *WINDOWS["subdural"]), [0, 0.1, 0.3, 0.5, 1.0])
    assert window(np.float32(600.0), *WINDOWS["bone"]) == 0.5
    assert window(hu, 40, 80).dtype == np.float32
    assert WINDOWS == {"brain": (40, 80), "subdural": (80, 200), "bone": (600, 2800)}


# --------------------------------------------------------------------------------------------
# Resizing


@pytest.mark.parametrize(
    ("shape", "size"),
    [
        ((512, 512), 128),
        ((300, 300), 128),
        ((64, 64), 100),
        ((7, 512, 384), 128),
        ((2, 3, 90, 60), 32),
    ],
)
def test_resize_keeps_the_mean_of_a_constant_image_and_the_shape_contract(shape, size):
    result = resize(np.full(shape, 37.5, np.float32), size)
    assert result.shape == (*shape[:-2], size, size)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, 37.5, rtol=1e-5)


def test_resize_by_an_integer_factor_is_a_block_average():
    image = np.random.default_rng(0).normal(size=(2, 64, 64)).astype(np.float32)
    expected = image.reshape(2, 16, 4, 16, 4).mean(axis=(2, 4))
    np.testing.assert_allclose(resize(image, 16), expected, atol=1e-6)


def test_resize_keeps_the_total_of_a_non_integer_downsample():
    image = np.random.default_rng(0).uniform(size=(300, 300)).astype(np.float32)
    # Area weights: every input pixel contributes its whole area, so the mean is preserved.
    assert resize(image, 128).mean() == pytest.approx(float(image.mean()), rel=1e-5)


def test_resize_pads_a_wide_image_to_square_with_its_minimum_keeping_the_aspect():
    image = np.full((64, 128), 5.0, np.float32)
    image[:, :2] = -1000.0
    result = resize(image, 128)
    assert result.shape == (128, 128)
    assert np.all(result[:32] == -1000.0)  # top padding: the image minimum
    assert np.all(result[96:] == -1000.0)
    assert np.all(result[32:96, 2:] == 5.0)  # the content is not stretched


# --------------------------------------------------------------------------------------------
# Slice order


def test_sort_slices_orders_shuffled_axial_slices_by_position():
    series = _headers(12)
    shuffled = [series[i] for i in np.random.default_rng(2).permutation(12)]
    assert sort_slices(shuffled) == series


def test_sort_slices_uses_the_slice_normal_for_a_tilted_stack_where_z_order_is_wrong():
    tilt = np.deg2rad(25.0)
    orientation = (1, 0, 0, 0, np.cos(tilt), np.sin(tilt))
    series = _headers(10, orientation=orientation, in_plane_drift_mm=-20.0)
    z = [ds.ImagePositionPatient[2] for ds in series]
    assert np.all(np.diff(z) < 0), "the test needs a stack whose z order is reversed"
    shuffled = [series[i] for i in np.random.default_rng(3).permutation(10)]
    assert sort_slices(shuffled) == series


def test_sort_slices_drops_a_duplicate_position_and_a_repeated_instance_and_says_so():
    series = _headers(6)
    duplicate = copy.deepcopy(series[2])
    duplicate.SOPInstanceUID = generate_uid()
    duplicate.InstanceNumber = 40
    notes: list[str] = []
    ordered = sort_slices([series[5], duplicate, *series[:5], series[1]], notes=notes)
    assert ordered == series
    assert any("1 instance(s) received more than once" in note for note in notes)
    assert any("dropped 1 slice(s)" in note and duplicate.SOPInstanceUID in note for note in notes)


def test_sort_slices_falls_back_to_instance_number_without_geometry_and_says_so():
    series = _headers(5)
    for ds in series:
        del ds.ImagePositionPatient
    notes: list[str] = []
    assert sort_slices(series[::-1], notes=notes) == series
    assert notes == [
        "no usable ImagePositionPatient on every slice: slices ordered by InstanceNumber"
    ]


# --------------------------------------------------------------------------------------------
# Series selection


def test_a_scout_and_a_derived_series_are_rejected_with_their_reasons():
    axial = _headers(30, series_number=2)
    scout = _headers(2, image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"), series_number=1)
    derived = _headers(30, image_type=("DERIVED", "SECONDARY", "AXIAL"), series_number=3)
    selected, rejected = select_series([scout, axial, derived], CT_HEAD)
    assert selected is not None
    assert selected.series_instance_uid == axial[0].SeriesInstanceUID
    reasons = dict(rejected)
    assert "localizer" in reasons[scout[0].SeriesInstanceUID]
    assert "not ORIGINAL" in reasons[derived[0].SeriesInstanceUID]
    assert selected.rejected == rejected


def test_derived_axial_slices_are_read_when_no_original_series_qualifies():
    reformat = _headers(30, image_type=("DERIVED", "SECONDARY", "AXIAL"), series_number=3)
    mip = _headers(30, image_type=("DERIVED", "SECONDARY", "AXIAL", "MIP"), series_number=4)
    minip = _headers(30, image_type=("DERIVED", "SECONDARY", "AXIAL"), series_description="MinIP")
    selected, rejected = select_series([mip, reformat, minip], CT_HEAD)
    assert selected.series_instance_uid == reformat[0].SeriesInstanceUID
    assert selected.notes == [
        "read derived images (DERIVED\\SECONDARY\\AXIAL): no original qualified"
    ]
    reasons = dict(rejected)
    assert "is not ORIGINAL" in reasons[mip[0].SeriesInstanceUID]
    assert "is not ORIGINAL" in reasons[minip[0].SeriesInstanceUID]
    # An original series, even with fewer slices, comes first.
    original = _headers(20, series_number=9)
    selected, rejected = select_series([reformat, original], CT_HEAD)
    assert selected.series_instance_uid == original[0].SeriesInstanceUID and selected.notes == []
    assert rejected == [
        (
            reformat[0].SeriesInstanceUID,
            f"qualified, but ImageType DERIVED\\SECONDARY\\AXIAL is not ORIGINAL and "
            f"{original[0].SeriesInstanceUID} is",
        )
    ]


def test_a_localizer_image_inside_an_axial_series_is_dropped_not_the_series():
    series = _headers(20)
    series[0].ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    series[0].ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
    selected, _ = select_series([series], CT_HEAD)
    assert selected is not None
    assert selected.datasets == series[1:]
    assert selected.notes == ["dropped 1 non-original/localizer instance(s)"]


def test_a_sagittal_reformat_is_rejected_by_an_axial_rule():
    sagittal = _headers(40, orientation=(0, 1, 0, 0, 0, -1), thickness=2.0)
    selected, rejected = select_series([sagittal], CT_HEAD)
    assert selected is None
    assert rejected == [(sagittal[0].SeriesInstanceUID, "sagittal orientation, rule needs axial")]


def _one_series_each(datasets: list[Dataset]) -> list[list[Dataset]]:
    """Every instance a series of its own, as some converters and exporters send a study."""
    split = []
    for ds in datasets:
        ds.SeriesInstanceUID = generate_uid()
        split.append([ds])
    return split


def test_single_image_series_regrouped_are_listed_once_not_slice_by_slice():
    # Regrouped and refused as one series: one reason, under the group's UID.
    sagittal = _one_series_each(_headers(20, orientation=(0, 1, 0, 0, 0, -1), thickness=2.0))
    selected, rejected = select_series(sagittal, CT_HEAD)
    assert selected is None
    assert rejected == [
        (sagittal[0][0].SeriesInstanceUID, "sagittal orientation, rule needs axial")
    ]
    # Too few to regroup (the rule needs 10): each stays listed with why.
    few = _one_series_each(_headers(4))
    selected, rejected = select_series(few, CT_HEAD)
    assert selected is None
    assert rejected == [
        (s[0].SeriesInstanceUID, "1 instance(s), rule needs at least 10") for s in few
    ]


def test_a_series_without_orientation_is_taken_at_its_image_types_word_else_as_axial():
    says_axial = _headers(20, series_number=3)
    says_nothing = _headers(20, image_type=("ORIGINAL", "PRIMARY"), series_number=2)
    says_coronal = _headers(20, image_type=("ORIGINAL", "PRIMARY", "CORONAL"), series_number=1)
    for ds in (*says_axial, *says_nothing, *says_coronal):
        del ds.ImageOrientationPatient
    selected, rejected = select_series([says_axial, says_nothing, says_coronal], CT_HEAD)
    assert selected is not None and selected.series_instance_uid == says_axial[0].SeriesInstanceUID
    axial_uid = says_axial[0].SeriesInstanceUID
    assert dict(rejected) == {
        says_coronal[0].SeriesInstanceUID: "no ImageOrientationPatient, and ImageType says CORONAL",
        says_nothing[0].SeriesInstanceUID: (
            f"qualified, but its plane is assumed and {axial_uid}'s header gives it"
        ),
    }
    # Alone, the series that says nothing is read as axial (a CT series is, unless it says
    # otherwise: what a home-made sender writes), and the run says so.
    selected, _ = select_series([says_nothing], CT_HEAD)
    assert selected.notes == [
        "no ImageOrientationPatient and no plane in ImageType: taken as axial, slices in "
        "InstanceNumber order"
    ]


@pytest.mark.parametrize(
    ("marks", "why"),
    [
        ({"ConvolutionKernel": "BONEPLUS"}, "kernel BONEPLUS"),  # GE
        ({"ConvolutionKernel": "H70h"}, "kernel H70h"),  # Siemens: 60 and above are sharp
        ({"ConvolutionKernel": ["Hr64", "3"]}, "kernel Hr64 3"),
        ({"SeriesDescription": "HEAD 1mm BONE"}, "series 'HEAD 1mm BONE'"),
        ({"SeriesDescription": "头颅 骨窗 1mm"}, "series '头颅 骨窗 1mm'"),
        ({"WindowCenter": [600, 500], "WindowWidth": [2800, 2000]}, "window centre 600"),
    ],
)
def test_a_soft_tissue_series_is_read_before_a_thinner_bone_one(marks, why):
    # The bone series is thinner, so it has more slices, and comes first by SeriesNumber: by
    # those alone it would win.
    bone = _headers(40, thickness=1.25, series_number=2)
    soft = _headers(24, thickness=5.0, series_number=3)
    for ds in bone:
        for keyword, value in marks.items():
            setattr(ds, keyword, value)
    for ds in soft:
        ds.ConvolutionKernel, ds.WindowCenter, ds.WindowWidth = "H30s", 40, 80
    selected, rejected = select_series([bone, soft], CT_HEAD)
    assert selected.series_instance_uid == soft[0].SeriesInstanceUID
    bone_uid, soft_uid = bone[0].SeriesInstanceUID, soft[0].SeriesInstanceUID
    assert rejected == [
        (bone_uid, f"qualified, but a bone reconstruction ({why}) and {soft_uid} is not")
    ]
    assert selected.notes == []


@pytest.mark.parametrize(
    ("marks", "why"),
    [
        ({"ContrastBolusAgent": "OMNIPAQUE 300"}, "ContrastBolusAgent is 'OMNIPAQUE 300'"),
        ({"SeriesDescription": "AX 5mm C+"}, "SeriesDescription 'AX 5mm C+' describes"),
        ({"SeriesDescription": "뇌 조영증강 5mm"}, "SeriesDescription '뇌 조영증강 5mm' describes"),
    ],
)
def test_a_study_with_and_without_contrast_reads_the_series_without(marks, why):
    # A head CT "with and without contrast": the enhanced series is thinner and numbered first,
    # so by slices and number alone it would win, and the whole run would be "not applicable"
    # though the plain series beside it is what the model reads.
    enhanced = _headers(48, thickness=2.5, series_number=2, study_description="CT HEAD W/WO")
    plain = _headers(24, thickness=5.0, series_number=3, study_description="CT HEAD W/WO")
    for ds in enhanced:
        for keyword, value in marks.items():
            setattr(ds, keyword, value)
    selected, rejected = select_series([enhanced, plain], CT_HEAD)
    assert selected.series_instance_uid == plain[0].SeriesInstanceUID
    assert len(rejected) == 1 and rejected[0][0] == enhanced[0].SeriesInstanceUID
    assert rejected[0][1].startswith(f"qualified, but contrast-enhanced ({why}")
    # Alone, it is still chosen, and the input checks refuse it (test_input_checks).
    assert select_series([enhanced], CT_HEAD)[0] is not None


def test_a_bone_reconstruction_is_read_when_it_is_the_only_one_and_the_run_says_so():
    bone = _headers(40, thickness=1.25)
    for ds in bone:
        ds.ConvolutionKernel = "BONE"
    selected, rejected = select_series([bone], CT_HEAD)
    assert selected is not None and rejected == []
    assert selected.notes == ["read a bone reconstruction (kernel BONE): no other qualified"]


def test_soft_kernels_and_brain_windows_are_not_bone():
    for kernel in ("STANDARD", "SOFT", "H30s", "J40s", "Hr38", "FC21", "UB", "B31f"):
        series = _headers(20)
        for ds in series:
            ds.ConvolutionKernel, ds.WindowCenter, ds.WindowWidth = kernel, [40, 35], [80, 100]
        assert select_series([series], CT_HEAD)[0].notes == [], kernel


def test_a_gantry_tilted_head_ct_still_counts_as_axial():
    tilt = np.deg2rad(20.0)
    tilted = _headers(24, orientation=(1, 0, 0, 0, np.cos(tilt), np.sin(tilt)))
    selected, _ = select_series([tilted], CT_HEAD)
    assert selected is not None


def test_thick_slices_are_rejected_and_missing_thickness_is_accepted():
    thick = _headers(20, thickness=12.0)
    unknown = _headers(20, thickness=None)
    selected, rejected = select_series([thick, unknown], CT_HEAD)
    assert selected.series_instance_uid == unknown[0].SeriesInstanceUID
    assert rejected == [(thick[0].SeriesInstanceUID, "slice thickness 12 mm outside 0.5-10 mm")]


def test_the_series_covering_the_head_then_most_instances_then_thinnest_slices_is_chosen():
    five_mm = _headers(30, thickness=5.0, series_number=2)  # 150 mm
    thin = _headers(120, thickness=1.25, series_number=3)  # 150 mm
    thin_twin = _headers(240, thickness=0.625, series_number=4)  # 150 mm
    # The same 240 positions, reconstructed 1 mm thick (overlapping): 150.4 mm.
    overlapping = _headers(240, thickness=0.625, series_number=5)
    for ds in overlapping:
        ds.SliceThickness = 1.0
    # The posterior fossa alone, reconstructed thin: more slices than the 5 mm whole head,
    # but a third of the head.
    fossa = _headers(40, thickness=1.25, series_number=1)  # 50 mm
    too_few = _headers(4, thickness=5.0, series_number=6)
    selected, rejected = select_series(
        [five_mm, thin, thin_twin, overlapping, fossa, too_few], CT_HEAD
    )
    assert selected.series_instance_uid == thin_twin[0].SeriesInstanceUID
    assert "240 instance(s), 0.625 mm" in selected.reason
    reasons = {uid: why.replace(thin_twin[0].SeriesInstanceUID, "best") for uid, why in rejected}
    assert reasons[overlapping[0].SeriesInstanceUID] == "qualified, but best has thinner slices"
    assert reasons[thin[0].SeriesInstanceUID].endswith("has more instances (120 < 240)")
    assert reasons[five_mm[0].SeriesInstanceUID].endswith("has more instances (30 < 240)")
    assert reasons[fossa[0].SeriesInstanceUID] == (
        "qualified, but best covers more (150 mm against 50 mm)"
    )
    assert "4 instance(s), rule needs at least 10" in reasons[too_few[0].SeriesInstanceUID]


@pytest.mark.filterwarnings("ignore:Invalid value for VR CS")  # lower case, as sites send
def test_body_part_comes_from_the_descriptions_when_body_part_examined_is_missing():
    described = _headers(20, body_part=None, study_description="CT HEAD WO CONTRAST")
    abdomen = _headers(20, body_part="abdomen", series_description="HEAD")
    described_abdomen = _headers(20, body_part=None, study_description="CT ABDOMEN PELVIS")
    sinus = _headers(20, body_part=None, study_description="CT SINUS")
    lower_case = _headers(20, body_part="brain", series_number=9)
    selected, rejected = select_series([described], CT_HEAD)
    assert selected is not None and not selected.body_part_from_images, rejected
    # A header that names another body part says what was scanned: not read, whatever the
    # images show (a sinus CT shows a skull too).
    for series in (abdomen, described_abdomen, sinus):
        selected, rejected = select_series([series], CT_HEAD)
        assert selected is None, rejected
    assert select_series([lower_case], CT_HEAD)[0] is not None


def test_a_header_that_names_no_body_part_leaves_it_to_the_images():
    undescribed = _headers(20, body_part=None, series_description="ROUTINE 5mm")
    selected, rejected = select_series([undescribed], CT_HEAD)
    assert selected is not None and selected.body_part_from_images, rejected
    assert selected.notes == [
        "the header names no body part (BodyPartExamined, descriptions, protocol): "
        "the images must show BRAIN/HEAD/SKULL"
    ]
    # Beside a series whose header says HEAD, it is passed over, and says why.
    labelled = _headers(12, body_part="HEAD", series_number=3)
    selected, rejected = select_series([undescribed, labelled], CT_HEAD)
    assert selected.series_instance_uid == labelled[0].SeriesInstanceUID
    assert not selected.body_part_from_images and selected.notes == []
    assert rejected == [
        (
            undescribed[0].SeriesInstanceUID,
            f"qualified, but its header names no body part and "
            f"{labelled[0].SeriesInstanceUID}'s does",
        )
    ]
    # So is a film's (its lung fields must show: quality.lung_fields).
    film = _headers(1, modality="DX", body_part=None, series_description="PA")
    selected, rejected = select_series([film], CHEST_RADIOGRAPH)
    assert selected is not None and selected.body_part_from_images, rejected


@pytest.mark.parametrize(
    ("description", "read_as"),
    [
        ("뇌 CT 조영전", "header"),  # Seoul: brain CT, before contrast
        ("두부CT", "header"),
        ("头颅CT平扫", "header"),  # Guangzhou: head CT, plain scan
        ("顱腦CT", "header"),  # traditional characters
        ("頭部単純CT", "header"),  # Japanese
        ("CT CRANIAL ROUTINE", "header"),
        ("복부 CT", None),  # abdomen
        ("腹部CT平扫", None),
        ("CT C-SPINE", None),
        ("鼻窦CT", None),  # sinuses: a skull, not a brain
        # An English word only as a whole word: "HEADREST" names no body part, so the
        # images decide.
        ("CT HEADREST TEST", "images"),
    ],
)
def test_a_description_in_korean_or_chinese_names_the_head(description, read_as):
    series = _headers(20, body_part=None, study_description=description)
    selected, rejected = select_series([series], CT_HEAD)
    if read_as is None:
        assert selected is None, description
    else:
        assert selected is not None, rejected
        assert selected.body_part_from_images is (read_as == "images")


@pytest.mark.parametrize(
    ("description", "qualifies"),
    [("흉부 정면", True), ("胸部正位", True), ("CHEST PA", True), ("장폐쇄 복부", False)],
)
def test_a_description_in_korean_or_chinese_names_the_chest(description, qualifies):
    series = _headers(1, modality="DX", body_part=None, series_description=description)
    selected, rejected = select_series([series], CHEST_RADIOGRAPH)
    assert (selected is not None) is qualifies, rejected


def test_an_mr_study_is_not_applicable_to_the_ct_head_rule():
    study = make_study("mr-brain", rng=np.random.default_rng(4), slices=4, size=32)
    by_series: dict[str, list[Dataset]] = {}
    for ds in study.datasets:
        by_series.setdefault(str(ds.SeriesInstanceUID), []).append(ds)
    series = list(by_series.values())
    selected, rejected = select_series(series, CT_HEAD)
    assert selected is None
    assert [why for _, why in rejected] == ["modality MR is not CT"] * len(series)
    with pytest.raises(NotApplicable) as caught:
        require_series(series, CT_HEAD)
    assert caught.value.rejected == rejected
    assert caught.value.reason.startswith("no series fits ct-head")


def test_a_radiograph_rule_accepts_any_orientation():
    rule = SeriesRule(name="chest", modalities=frozenset({"CR", "DX"}), body_parts={"chest"})
    study = make_study("chest-xr", rng=np.random.default_rng(5), size=64)
    selected, rejected = select_series([study.datasets], rule)
    assert selected is not None, rejected
    assert selected.datasets == study.datasets


# --------------------------------------------------------------------------------------------
# Whole inputs


def test_prepare_ct_volume_shows_the_bleed_brighter_than_normal_brain():
    hu, mask = head_ct_volume(np.random.default_rng(7), slices=12, size=128, bleed=True)
    assert mask.sum() > 50
    datasets = _ct_datasets_from_hu(hu)
    shuffled = [datasets[i] for i in np.random.default_rng(8).permutation(len(datasets))]
    prepared = prepare_ct_volume(shuffled, size=64)
    assert prepared.array.shape == (12, 3, 64, 64)
    assert prepared.array.dtype == np.float32
    assert prepared.sop_instance_uids == [ds.SOPInstanceUID for ds in datasets]
    assert prepared.series_instance_uid == datasets[0].SeriesInstanceUID
    assert prepared.spacing_mm == pytest.approx((5.0, 3.75, 3.75))

    lesion = resize(mask.astype(np.float32), 64) > 0.99
    brain = (hu > 20) & (hu < 45) & ~mask
    normal = (resize(brain.astype(np.float32), 64) > 0.99) & (
        resize(mask.astype(np.float32), 64) == 0
    )
    assert lesion.sum() > 5
    for channel in (0, 1):  # brain and subdural windows
        inside = prepared.array[:, channel][lesion].mean()
        outside = prepared.array[:, channel][normal].mean()
        assert inside > outside + 0.1, (channel, inside, outside)


def test_prepare_ct_volume_uses_the_windows_asked_for_in_order():
    datasets = _head_ct(CANON_CT)
    prepared = prepare_ct_volume(datasets, size=32, windows=("bone", "brain"))
    assert prepared.array.shape == (8, 2, 32, 32)
    hu = np.stack([to_hounsfield(ds, pixel_array(ds)) for ds in sort_slices(datasets)])
    small = resize(np.clip(hu, -1024, 3071), 32)
    np.testing.assert_allclose(prepared.array[:, 0], window(small, 600, 2800), atol=1e-6)
    np.testing.assert_allclose(prepared.array[:, 1], window(small, 40, 80), atol=1e-6)
    with pytest.raises(ValueError, match="unknown window"):
        prepare_ct_volume(datasets, windows=("lung",))


def test_prepare_ct_volume_refuses_mixed_series_and_non_ct():
    first, second = _head_ct(), _head_ct(GE_CT, seed=2)
    with pytest.raises(PreprocessError, match="slices come from 2 series"):
        prepare_ct_volume([*first, *second])
    mr = make_study("mr-brain", rng=np.random.default_rng(4), slices=4, size=32).datasets[:4]
    with pytest.raises(PreprocessError, match="not CT"):
        prepare_ct_volume(mr)
    with pytest.raises(PreprocessError, match="no slices"):
        prepare_ct_volume([])


def test_a_real_chest_cr_with_its_image_type_written_with_spaces_is_read_and_not_flagged():
    """GDCM's sample CR (a real chest) writes ImageType "ORIGINAL PRIMARY", spaces for the
    backslash: it was refused as "not ORIGINAL". It is read now, and the shipped chest model,
    whose novelty record finds it close enough to its validation data, does not flag it."""
    from triage.core.package import load_package
    from triage.core.pipeline import run_model

    ds = pydicom.dcmread(CHEST_CR)
    assert str(ds.ImageType) == "ORIGINAL PRIMARY"
    model = load_package(Path(__file__).resolve().parents[2] / "triage/packages/cxr-pneumothorax")
    outcome = run_model(model, [[ds]])
    assert outcome.status == "succeeded", outcome.reason
    assert outcome.detail["novelty"]["distance"] <= outcome.detail["novelty"]["limit"]
    assert not any(outcome.flags.values())


def _film_as_picture(ds: Dataset, *, colour: bool) -> tuple[Dataset, Dataset]:
    """A film saved as an 8-bit picture and wrapped in DICOM by hand: (as grey, as RGB)."""
    values = pixel_array(ds).astype(np.float32)
    if str(ds.PhotometricInterpretation) == "MONOCHROME1":
        values = values.max() - values
    grey = np.round(255 * (values - values.min()) / np.ptp(values)).astype(np.uint8)
    pictures = []
    for samples in (1, 3):
        picture = copy.deepcopy(ds)
        for keyword in ("WindowCenter", "WindowWidth", "VOILUTFunction", "RescaleSlope",
                        "RescaleIntercept", "RescaleType"):  # fmt: skip
            if keyword in picture:
                delattr(picture, keyword)
        picture.BitsAllocated, picture.BitsStored, picture.HighBit = 8, 8, 7
        picture.PixelRepresentation = 0
        if samples == 1:
            picture.SamplesPerPixel, picture.PhotometricInterpretation = 1, "MONOCHROME2"
            picture.PixelData = grey.tobytes()
        else:
            rgb = np.repeat(grey[..., None], 3, axis=-1)
            if colour:  # a red annotation over the left lung
                rgb[100:140, 60:200] = (255, 0, 0)
            picture.SamplesPerPixel, picture.PhotometricInterpretation = 3, "RGB"
            picture.PlanarConfiguration = 0
            picture.PixelData = rgb.tobytes()
        picture.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        pictures.append(picture)
    return pictures[0], pictures[1]


def test_a_film_saved_as_a_grey_rgb_picture_reads_as_the_same_film_in_grey():
    film = make_study("chest-xr", rng=np.random.default_rng(5), finding=True).datasets[0]
    grey, rgb = _film_as_picture(film, colour=False)
    as_grey, as_rgb = prepare_radiograph(grey), prepare_radiograph(rgb)
    np.testing.assert_allclose(as_rgb.array, as_grey.array, atol=1e-6)
    assert "an RGB image whose channels are grey: read as grey" in as_rgb.notes


def test_a_colour_picture_is_refused_with_the_reason():
    film = make_study("chest-xr", rng=np.random.default_rng(5), finding=True).datasets[0]
    _, coloured = _film_as_picture(film, colour=True)
    with pytest.raises(PreprocessError, match="a colour image"):
        prepare_radiograph(coloured)
