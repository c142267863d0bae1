"""Real DICOM files for ingest tests, and a real C-STORE to send them (dcmtk's storescu)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pydicom
from pydicom.uid import generate_uid

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "dicom"
FLAIR = sorted((SHARED / "mr-brain-flair").glob("*.dcm"))
BBMRI = sorted((SHARED / "mr-bbmri").glob("*.dcm"))


def charset_file(name: str) -> Path:
    from pydicom.data import get_charset_files

    return Path(get_charset_files(name)[0])


def new_study(
    sources: list[Path],
    directory: Path,
    *,
    study_instance_uid: str | None = None,
    series_instance_uid: str | None = None,
    **tags,
) -> tuple[str, list[Path]]:
    """Copies of real files made into a study of their own (fresh UIDs, chosen tags)."""
    directory.mkdir(parents=True, exist_ok=True)
    study_instance_uid = study_instance_uid or generate_uid()
    series_instance_uid = series_instance_uid or generate_uid()
    written = []
    for index, source in enumerate(sources):
        ds = pydicom.dcmread(source)
        ds.StudyInstanceUID = study_instance_uid
        ds.SeriesInstanceUID = series_instance_uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        for keyword, value in tags.items():
            setattr(ds, keyword, value)
        path = directory / f"{series_instance_uid[-12:]}-{index:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        written.append(path)
    return study_instance_uid, written


def c_store(
    files: list[Path],
    *,
    port: int,
    calling_aet: str,
    called_aet: str = "READINGCENTER",
    required: bool = False,
):
    """Send files over a real DICOM association, as a hospital's PACS would.

    ``required``: propose the files' own SOP classes and transfer syntaxes (storescu -R), for
    storage classes outside storescu's default list (Enhanced CT and its kin).
    """
    # An empty list is a checkout without the shared DICOM files beside it, which storescu
    # would only report as "Missing parameter dcmfile-in".
    assert files, f"no DICOM files to send: the shared files are expected in {SHARED}"
    env = {**os.environ, "TCP_NODELAY": "1"}
    result = subprocess.run(
        [
            "storescu",
            *(["-R"] if required else []),
            "-aet",
            calling_aet,
            "-aec",
            called_aet,
            "127.0.0.1",
            str(port),
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def follow_until(predicate, *, timeout: float = 20.0, client=None):
    """Run the follower (in this process) until ``predicate()`` holds; fail after timeout."""
    from readingcenter.studies.ingest import follow_once

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        follow_once(client=client)
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not reached within {timeout}s: {predicate.__doc__ or predicate}")
