"""The hospital simulator's C-STORE sender, against real receivers on loopback ports.

dcmtk's storescp plays the reading center's front door (it is a different DICOM
implementation from the one sending); a pynetdicom receiver plays the misbehaving ones.
No Django and no database.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread, dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import RLELossless
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt

from readingcenter.pacs.orthanc_server import free_port
from simulator import synthetic as syn
from simulator.sender import (
    SendError,
    load_folder,
    send_datasets,
    send_with_storescu,
    write_folder,
)

WHEN = dt.datetime(2025, 3, 14, 9, 26, 53)
SHARED_MR = Path(__file__).resolve().parents[2] / ".." / "shared" / "dicom" / "mr-brain-flair"
needs_dcmtk = pytest.mark.skipif(shutil.which("storescp") is None, reason="dcmtk not installed")


def _listening(port: int) -> bool:
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                return True
    return False


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    # Watch for the listening socket instead of connecting to it: storescp serves one
    # association at a time, and a probe connection it must first read and drop could make
    # the test's real association wait or fail on a loaded machine.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _listening(port):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def start_storescp(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, int, Path]:
    port = free_port()
    out = tmp_path / "received"
    out.mkdir()
    proc = subprocess.Popen(
        ["storescp", "+xa", "-aet", "READINGCENTER", "-od", str(out), *extra, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={"TCP_NODELAY": "1", "PATH": "/usr/bin:/bin"},
    )
    wait_for_port(port)
    return proc, port, out


@pytest.fixture
def storescp(tmp_path):
    proc, port, out = start_storescp(tmp_path)
    yield port, out
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def pynetdicom_receiver():
    """Start a pynetdicom storage SCP whose C-STORE answers come from ``handler(event)``."""
    servers = []

    def start(handler) -> int:
        ae = AE(ae_title="READINGCENTER")
        for cx in AllStoragePresentationContexts:
            ae.add_supported_context(cx.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        port = free_port()
        servers.append(
            ae.start_server(
                ("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, handler)]
            )
        )
        return port

    yield start
    for server in servers:
        server.shutdown()


def study_datasets(seed: int = 1, *, compress: bool = False) -> list[Dataset]:
    rng = np.random.default_rng(seed)
    ct = syn.make_study("head-ct", rng=rng, slices=4, size=64, study_datetime=WHEN)
    xr = syn.make_study("chest-xr", rng=rng, size=128, study_datetime=WHEN, compress=compress)
    return ct.datasets + xr.datasets


def received_uids(folder: Path) -> set[str]:
    return {str(dcmread(p).SOPInstanceUID) for p in folder.iterdir()}


# --------------------------------------------------------------------------------------------
# Happy path


@needs_dcmtk
def test_the_sender_stores_every_instance_on_one_association(storescp):
    port, out = storescp
    datasets = study_datasets()
    calls = []
    result = send_datasets(
        datasets,
        host="127.0.0.1",
        port=port,
        calling_aet="ALPHA_CT",
        called_aet="READINGCENTER",
        progress=lambda done, total: calls.append((done, total)),
    )
    assert result.ok
    assert (result.sent, result.failed, result.associations) == (5, 0, 1)
    assert calls[-1] == (5, 5) and len(calls) == 5
    assert result.elapsed > 0 and result.rate > 0
    assert received_uids(out) == {ds.SOPInstanceUID for ds in datasets}


@needs_dcmtk
def test_compressed_and_uncompressed_instances_arrive_as_they_were_encoded(storescp):
    port, out = storescp
    datasets = study_datasets(2, compress=True)
    result = send_datasets(
        datasets, host="127.0.0.1", port=port, calling_aet="ALPHA_CT", called_aet="READINGCENTER"
    )
    # Normally one association. On a loaded machine pynetdicom can miss a response that came
    # back very fast ("unexpected C-STORE service message") and time out; the sender then
    # sends the rest on a new association, losing nothing (seen once in CI-like runs).
    assert result.ok and result.sent == len(datasets)
    syntaxes = {str(dcmread(p).file_meta.TransferSyntaxUID) for p in out.iterdir()}
    assert RLELossless in syntaxes and len(syntaxes) == 2
    assert received_uids(out) == {ds.SOPInstanceUID for ds in datasets}


@needs_dcmtk
def test_a_late_series_is_stored_in_the_same_study(storescp):
    port, out = storescp
    study = syn.make_study("chest-xr", rng=np.random.default_rng(4), size=128)
    send_datasets(
        study.datasets, host="127.0.0.1", port=port, calling_aet="A", called_aet="READINGCENTER"
    )
    late = study.add_series()
    result = send_datasets(
        late, host="127.0.0.1", port=port, calling_aet="A", called_aet="READINGCENTER"
    )
    assert result.ok
    files = [dcmread(p) for p in out.iterdir()]
    assert {ds.StudyInstanceUID for ds in files} == {study.study_instance_uid}
    assert len({ds.SeriesInstanceUID for ds in files}) == 2


@pytest.mark.skipif(shutil.which("storescu") is None, reason="dcmtk not installed")
def test_the_storescu_sender_stores_every_instance(storescp):
    port, out = storescp
    datasets = study_datasets(3, compress=True)
    calls = []
    result = send_with_storescu(
        datasets,
        host="127.0.0.1",
        port=port,
        calling_aet="ALPHA_CT",
        called_aet="READINGCENTER",
        progress=lambda done, total: calls.append(done),
    )
    assert (result.sent, result.failed) == (5, 0)
    assert calls[-1] == 5
    assert received_uids(out) == {ds.SOPInstanceUID for ds in datasets}


# --------------------------------------------------------------------------------------------
# Failures that must read well


def test_connection_refused_is_a_send_error_that_says_where_and_what_to_do():
    port = free_port()  # bound and released: nothing listens there now
    with pytest.raises(SendError) as caught:
        send_datasets(
            study_datasets(),
            host="127.0.0.1",
            port=port,
            calling_aet="ALPHA_CT",
            called_aet="READINGCENTER",
            timeout=5,
        )
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message
    assert "refused" in message
    assert "make demo" in message and "Orthanc" in message
    assert caught.value.result is not None and caught.value.result.sent == 0


@needs_dcmtk
def test_a_refused_association_is_a_send_error_naming_both_ae_titles(tmp_path):
    proc, port, _ = start_storescp(tmp_path, "--refuse")
    try:
        with pytest.raises(SendError) as caught:
            send_datasets(
                study_datasets(),
                host="127.0.0.1",
                port=port,
                calling_aet="ALPHA_CT",
                called_aet="READINGCENTER",
                timeout=5,
            )
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    message = str(caught.value)
    assert "rejected" in message
    assert "'ALPHA_CT'" in message and "'READINGCENTER'" in message


def test_an_invalid_ae_title_is_refused_before_connecting():
    with pytest.raises(SendError, match="1-16 ASCII"):
        send_datasets([], host="127.0.0.1", port=1, calling_aet="A" * 17, called_aet="X")


def test_a_receiver_that_drops_the_association_gets_the_rest_on_a_new_one(pynetdicom_receiver):
    stored: list[str] = []
    dropped = []

    def handler(event):
        if len(stored) == 2 and not dropped:
            dropped.append(event.request.AffectedSOPInstanceUID)
            event.assoc.abort()
            return 0x0000
        stored.append(event.request.AffectedSOPInstanceUID)
        return 0x0000

    port = pynetdicom_receiver(handler)
    datasets = study_datasets(5)
    result = send_datasets(
        datasets, host="127.0.0.1", port=port, calling_aet="A", called_aet="RC", timeout=5
    )
    assert dropped, "the receiver dropped one association"
    assert result.ok and result.sent == len(datasets)
    assert result.associations == 2
    assert set(stored) == {ds.SOPInstanceUID for ds in datasets}


def test_a_failure_status_is_reported_for_that_instance_and_the_rest_still_go(
    pynetdicom_receiver,
):
    datasets = study_datasets(6)
    refused = datasets[1].SOPInstanceUID

    def handler(event):
        if event.request.AffectedSOPInstanceUID == refused:
            status = Dataset()
            status.Status = 0xA700
            status.ErrorComment = "disk full"
            return status
        return 0x0000

    port = pynetdicom_receiver(handler)
    result = send_datasets(
        datasets, host="127.0.0.1", port=port, calling_aet="A", called_aet="RC", timeout=5
    )
    assert (result.sent, result.failed) == (len(datasets) - 1, 1)
    assert not result.ok
    failure = result.failures[0]
    assert failure.sop_instance_uid == refused
    assert failure.status == 0xA700
    assert "Out of Resources" in failure.reason and "disk full" in failure.reason


def test_a_dataset_without_sop_uids_is_reported_not_sent(pynetdicom_receiver):
    port = pynetdicom_receiver(lambda event: 0x0000)
    broken = Dataset()
    broken.PatientName = "NO^UIDS"
    good = study_datasets(7)[:1]
    result = send_datasets(
        [broken, *good], host="127.0.0.1", port=port, calling_aet="A", called_aet="RC"
    )
    assert (result.sent, result.failed) == (1, 1)
    assert "SOPClassUID" in result.failures[0].reason


# --------------------------------------------------------------------------------------------
# Folders


def test_load_folder_reads_dicom_recursively_and_lists_what_it_skipped(tmp_path):
    datasets = study_datasets(8)
    write_folder(datasets[:2], tmp_path / "series1")
    write_folder(datasets[2:3], tmp_path / "deeper" / "series2")
    (tmp_path / "README.txt").write_text("not an image")
    (tmp_path / "empty.dcm").write_bytes(b"")
    (tmp_path / "deeper" / "junk.bin").write_bytes(bytes(range(256)) * 4)

    loaded = load_folder(tmp_path)

    assert {ds.SOPInstanceUID for ds in loaded} == {ds.SOPInstanceUID for ds in datasets[:3]}
    skipped = {Path(path).name for path, _ in loaded.skipped}
    assert skipped == {"README.txt", "empty.dcm", "junk.bin"}
    assert all(reason for _, reason in loaded.skipped)


def test_load_folder_accepts_a_file_without_the_dicom_preamble(tmp_path):
    ds = study_datasets(9)[0]
    ds.file_meta = FileMetaDataset()  # no preamble and no meta: a bare dataset, as old exports
    dcmwrite(tmp_path / "raw.dcm", ds, implicit_vr=True, little_endian=True)
    assert (tmp_path / "raw.dcm").read_bytes()[128:132] != b"DICM"
    loaded = load_folder(tmp_path)
    assert len(loaded) == 1 and not loaded.skipped
    assert loaded[0].file_meta.TransferSyntaxUID == "1.2.840.10008.1.2"


def test_load_folder_of_a_missing_path_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_folder(tmp_path / "nowhere")


@pytest.mark.skipif(not SHARED_MR.is_dir(), reason="../shared/dicom is not present")
def test_load_folder_reads_the_shared_mr_flair_series():
    loaded = load_folder(SHARED_MR)
    assert len(loaded) == 22
    assert {ds.Modality for ds in loaded} == {"MR"}
