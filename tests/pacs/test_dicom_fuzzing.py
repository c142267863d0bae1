"""Malformed DICOM over C-STORE: every file ends complete, quarantined with a reason, or
refused, and nothing crashes.

Mutations of the shipped files, made from the bytes (truncated in the header and in the
pixels, a wrong VR, lengths far past the end, an unknown character set with bytes no set
decodes, a transfer syntax the data set is not in, garbage over the data set), each sent as
its own study by a real association (pynetdicom sends a file's bytes as they are) to a real
Orthanc, then followed by the real follower. Counts are printed.
"""

from __future__ import annotations

import random
import struct
from collections import Counter
from pathlib import Path

import pydicom
import pytest
from pydicom.filereader import read_file_meta_info
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE

from readingcenter.studies.ingest import sweep
from readingcenter.studies.models import Study
from tests.pacs.dicom_files import BBMRI, FLAIR, SHARED, follow_until, new_study

SOURCES = [FLAIR[0], BBMRI[0], SHARED / "ct" / "dicompyler-ct.0.dcm"]


def _pixel_offset(data: bytes) -> int:
    at = data.rfind(b"\xe0\x7f\x10\x00")
    assert at > 0, "no PixelData element in the source"
    return at


def _element(data: bytes, tag: tuple[int, int]) -> int:
    at = data.find(struct.pack("<HH", *tag))
    assert at > 0, f"no element {tag} in the source"
    return at


def truncated_header(data: bytes, rng: random.Random) -> bytes:
    start = 132 + 200  # past the preamble and most of the file meta
    return data[: rng.randrange(start, _pixel_offset(data))]


def truncated_pixels(data: bytes, rng: random.Random) -> bytes:
    pixels = _pixel_offset(data)
    return data[: rng.randrange(pixels + 12, len(data) - 1)]


def wrong_vr(data: bytes, rng: random.Random) -> bytes:
    at = _element(data, (0x0010, 0x0010))  # PatientName, PN -> US
    return data[: at + 4] + b"US" + data[at + 6 :]


def huge_length_pixels(data: bytes, rng: random.Random) -> bytes:
    at = _pixel_offset(data)  # tag, VR, 2 reserved, 4-byte length
    return data[: at + 8] + struct.pack("<I", 0xFFFFFFF0) + data[at + 12 :]


def huge_length_short(data: bytes, rng: random.Random) -> bytes:
    at = _element(data, (0x0010, 0x0010))  # tag, VR, 2-byte length
    return data[: at + 6] + struct.pack("<H", 0xFFFF) + data[at + 8 :]


def bad_charset(data: bytes, rng: random.Random) -> bytes:
    ds = pydicom.dcmread(pydicom.filebase.DicomBytesIO(data))
    ds.SpecificCharacterSet = "ISO_IR 999"
    ds[0x0010, 0x0010].value = b"\xff\xfe\x80\x81^\xc0\xc1"
    out = pydicom.filebase.DicomBytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def wrong_transfer_syntax(data: bytes, rng: random.Random) -> bytes:
    """The file meta names the other uncompressed syntax; the data set's bytes stay as they are."""
    meta_length = struct.unpack("<I", data[140:144])[0]  # (0002,0000) right after "DICM"
    dataset = data[144 + meta_length :]
    meta = pydicom.dcmread(pydicom.filebase.DicomBytesIO(data), stop_before_pixels=True).file_meta
    explicit = meta.TransferSyntaxUID == ExplicitVRLittleEndian
    meta.TransferSyntaxUID = ImplicitVRLittleEndian if explicit else ExplicitVRLittleEndian
    out = pydicom.filebase.DicomBytesIO()
    write_file_meta_info(out, meta, enforce_standard=True)
    return data[:128] + b"DICM" + out.getvalue() + dataset


def garbage(data: bytes, rng: random.Random) -> bytes:
    meta_end = data.find(b"\x08\x00", 300)
    at = rng.randrange(meta_end, _pixel_offset(data))
    return data[:at] + bytes(rng.randrange(256) for _ in range(64)) + data[at + 64 :]


MUTATIONS = [
    truncated_header,
    truncated_pixels,
    wrong_vr,
    huge_length_pixels,
    huge_length_short,
    bad_charset,
    wrong_transfer_syntax,
    garbage,
]


def _send(path: Path, port: int) -> str:
    """C-STORE the file's bytes as they are; the outcome as the sender sees it.

    The presentation context comes from the file meta alone, as every mutation leaves it
    whole: reading the data set too would fail where a truncation cuts a length field, and
    the sender's own parsing of the damage is not what is under test.
    """
    ae = AE(ae_title="ALPHA_CT")
    meta = read_file_meta_info(path)
    ae.add_requested_context(meta.MediaStorageSOPClassUID, meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", port, ae_title="READINGCENTER")
    if not assoc.is_established:
        return "association refused"
    try:
        status = assoc.send_c_store(path)
    except Exception as exc:  # noqa: BLE001 - the sender's own trouble is an outcome here
        return f"not sent ({exc.__class__.__name__})"
    finally:
        if assoc.is_established:
            assoc.release()
    code = getattr(status, "Status", None)
    if code is None:
        return "no answer (aborted)"
    return "stored" if code in (0x0000, 0xB000, 0xB007, 0xB006) else f"refused {code:#06x}"


@pytest.mark.django_db(transaction=True)
def test_malformed_files_end_complete_quarantined_or_refused(orthanc, hospital_a, tmp_path):
    rng = random.Random(13)
    outcomes: Counter[str] = Counter()
    sent: dict[str, str] = {}  # StudyInstanceUID -> mutation
    for source in SOURCES:
        for mutate in MUTATIONS:
            uid, (fresh,) = new_study([source], tmp_path / f"{mutate.__name__}-{source.stem}")
            damaged = fresh.with_suffix(".bad.dcm")
            damaged.write_bytes(mutate(fresh.read_bytes(), rng))
            outcome = _send(damaged, orthanc.config.dicom_port)
            outcomes[f"{mutate.__name__}: {outcome.split(' (')[0]}"] += 1
            if outcome == "stored":
                sent[uid] = mutate.__name__

    client = orthanc.client()
    assert client.system()["DicomAet"] == "READINGCENTER"  # Orthanc is still there
    # Each stored study settles: complete once stable, or quarantined at once.
    follow_until(
        lambda: not Study.objects.filter(status="receiving").exists(), client=client, timeout=30
    )
    sweep(client=client)

    ends: Counter[str] = Counter()
    for orthanc_id in client.study_ids():
        study = Study.objects.filter(orthanc_id=orthanc_id).first()
        assert study is not None, f"Orthanc holds study {orthanc_id}, the reading center lost it"
        if study.status == "quarantined":
            assert study.quarantine_reason and study.quarantine_detail, study.pk
            ends["quarantined with a reason"] += 1
        else:
            assert study.status == "complete", study.status
            ends[study.status] += 1
    print("\nDICOM fuzzing, by mutation and what the sender saw:")
    for key, count in sorted(outcomes.items()):
        print(f"  {key:<45} {count}")
    print(f"  studies stored by Orthanc: {len(client.study_ids())}; in the reading center: "
          f"{dict(ends)}")  # fmt: skip
    assert sum(outcomes.values()) == len(SOURCES) * len(MUTATIONS)
    assert sent, "Orthanc stored none of the malformed files: the test saw no ingest at all"
