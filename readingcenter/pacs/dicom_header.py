"""Study and series fields from a DICOM header, decoded by pydicom.

Orthanc's JSON mangles some character sets (seen: ISO 2022 IR 13 + IR 87 turns the ideographic
part of a name into escape-stripped ASCII), so the text the reading center keeps comes from the
first instance's own header, decoded by pydicom with its SpecificCharacterSet.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from io import BytesIO

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

# (7FE0,0010) Pixel Data as it appears in a little-endian stream.
PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"


class HeaderError(ValueError):
    pass


def read_header(chunks: Iterable[bytes], *, limit: int = 64 * 1024 * 1024) -> Dataset:
    """Read a DICOM header from a stream of file bytes, stopping at the pixel data.

    A CT slice is ~0.5 MB and a radiograph tens of MB; the header is usually a few KB, so we
    stop reading once the Pixel Data tag has gone by instead of downloading the image.
    """
    buffer = bytearray()
    for chunk in chunks:
        buffer.extend(chunk)
        if PIXEL_DATA_TAG in buffer[-len(chunk) - 4 :] or len(buffer) >= limit:
            break
    try:
        return pydicom.dcmread(BytesIO(bytes(buffer)), stop_before_pixels=True, force=True)
    except (InvalidDicomError, EOFError, ValueError, KeyError, TypeError) as exc:
        raise HeaderError(f"unreadable DICOM header: {exc}") from exc


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _text(ds: Dataset, keyword: str, max_length: int) -> str:
    try:
        value = ds.get(keyword)
    except Exception:  # noqa: BLE001 - a malformed element must not stop ingest
        return ""
    if value is None:
        return ""
    if isinstance(value, pydicom.multival.MultiValue):
        value = "\\".join(str(v) for v in value)
    # Control characters have no place in these fields (DICOM allows none but ESC, which
    # decoding consumes), and PostgreSQL refuses NUL outright: a damaged header would
    # otherwise lose the whole study at the database.
    text = _CONTROL.sub("", str(value))
    return text.strip().rstrip("=")[:max_length]


def _date(ds: Dataset, keyword: str) -> dt.date | None:
    raw = _text(ds, keyword, 16).replace(".", "").replace("-", "")
    try:
        value = dt.datetime.strptime(raw[:8], "%Y%m%d").date() if len(raw) >= 8 else None
    except ValueError:
        return None
    # Pre-DICOM (ACR-NEMA) files write two-digit years that come out as year 0095: a date we
    # cannot trust is better shown as missing than as the first century.
    return value if value is None or value.year >= 1850 else None


def _time(ds: Dataset, keyword: str) -> dt.time | None:
    raw = _text(ds, keyword, 32).replace(":", "")
    digits = raw.split(".")[0]
    if not digits.isdigit() or len(digits) < 2:
        return None
    digits = digits.ljust(6, "0")[:6]
    try:
        return dt.time(int(digits[0:2]), int(digits[2:4]), int(digits[4:6]))
    except ValueError:
        return None


def study_fields(ds: Dataset) -> dict:
    return {
        "study_instance_uid": _text(ds, "StudyInstanceUID", 64),
        "patient_name": _text(ds, "PatientName", 324),
        "patient_id": _text(ds, "PatientID", 64),
        "issuer_of_patient_id": _text(ds, "IssuerOfPatientID", 64),
        "patient_sex": _text(ds, "PatientSex", 16),
        "patient_birth_date": _date(ds, "PatientBirthDate"),
        "accession_number": _text(ds, "AccessionNumber", 16),
        "study_date": _date(ds, "StudyDate"),
        "study_time": _time(ds, "StudyTime"),
        "study_description": _text(ds, "StudyDescription", 200),
        "referring_physician_name": _text(ds, "ReferringPhysicianName", 324),
        "institution_name": _text(ds, "InstitutionName", 200),
        "requested_procedure_priority": _text(ds, "RequestedProcedurePriority", 16),
        "requested_procedure_description": _text(ds, "RequestedProcedureDescription", 200),
        "patient_location": _text(ds, "CurrentPatientLocation", 200)
        or _text(ds, "InstitutionalDepartmentName", 200),
    }


def series_fields(ds: Dataset) -> dict:
    number = _text(ds, "SeriesNumber", 12)
    try:
        series_number = int(float(number)) if number else None
    except ValueError:
        series_number = None
    return {
        "series_instance_uid": _text(ds, "SeriesInstanceUID", 64),
        "series_number": series_number,
        "modality": _text(ds, "Modality", 16),
        "series_description": _text(ds, "SeriesDescription", 200),
        "body_part_examined": _text(ds, "BodyPartExamined", 64),
    }


def missing_tags(ds: Dataset, required: Iterable[str]) -> list[str]:
    return [keyword for keyword in required if not _text(ds, keyword, 64)]
