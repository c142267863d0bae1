"""Send DICOM instances over C-STORE, as a hospital's PACS or modality would.

Django-free (pynetdicom, pydicom, stdlib), so benchmarks and scripts can use it directly.
Expected trouble (nobody listening, AE title refused, a peer that drops the association)
comes back as a ``SendError`` with a message that says what to check, never as a traceback.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydicom import dcmread, dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    MediaStorageDirectoryStorage,
)
from pynetdicom import AE, evt
from pynetdicom.pdu import A_ASSOCIATE_RJ
from pynetdicom.presentation import PresentationContext, build_context
from pynetdicom.status import STORAGE_SERVICE_CLASS_STATUS, code_to_category

__all__ = [
    "LoadedFolder",
    "SendError",
    "SendFailure",
    "SendResult",
    "load_folder",
    "send_datasets",
    "send_with_storescu",
    "write_folder",
]

MAX_CONTEXTS = 128  # PS3.8: presentation context IDs are odd numbers 1-255
_UNCOMPRESSED = (ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian)

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(done, total)`` after each instance, sent or failed."""


class SendError(Exception):
    """Sending could not go on. ``result`` holds what was sent before it stopped, if anything."""

    def __init__(self, message: str, *, result: SendResult | None = None):
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class SendFailure:
    sop_instance_uid: str
    sop_class_uid: str
    status: int | None  # None when the peer never answered (no context, association lost)
    reason: str


@dataclass
class SendResult:
    total: int = 0
    sent: int = 0
    warnings: int = 0  # sent, but the receiver answered with a warning status (coercion...)
    failed: int = 0
    failures: list[SendFailure] = field(default_factory=list)
    elapsed: float = 0.0
    associations: int = 0

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.sent == self.total

    @property
    def rate(self) -> float:
        """Instances per second."""
        return self.sent / self.elapsed if self.elapsed > 0 else 0.0

    def _fail(self, ds: Dataset, status: int | None, reason: str) -> None:
        self.failed += 1
        self.failures.append(
            SendFailure(
                sop_instance_uid=str(ds.get("SOPInstanceUID", "")),
                sop_class_uid=str(ds.get("SOPClassUID", "")),
                status=status,
                reason=reason,
            )
        )


# --------------------------------------------------------------------------------------------
# Reading and writing folders


class LoadedFolder(list):
    """The datasets found (a plain ``list[Dataset]``) plus ``skipped``: (path, why) pairs."""

    def __init__(self, datasets: Iterable[Dataset] = (), skipped: Iterable[tuple[str, str]] = ()):
        super().__init__(datasets)
        self.skipped: list[tuple[str, str]] = list(skipped)


def _read_one(path: Path) -> Dataset:
    try:
        return dcmread(path)
    except InvalidDicomError:
        pass
    # Old files and some modalities' exports have no 128-byte preamble: accept them only if
    # they parse as a stored instance, so random files are not mistaken for DICOM.
    ds = dcmread(path, force=True)
    if "SOPClassUID" not in ds or "SOPInstanceUID" not in ds:
        raise InvalidDicomError("not a DICOM file (no preamble, no SOP Class/Instance UID)")
    if "TransferSyntaxUID" not in ds.get("file_meta", {}):
        implicit, little = ds.original_encoding
        if not little:
            ts = ExplicitVRBigEndian
        else:
            ts = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ts
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def load_folder(path: str | os.PathLike) -> LoadedFolder:
    """Every DICOM instance under ``path`` (recursively, in path order).

    Files that are not DICOM instances (text, DICOMDIR, unreadable) are listed in
    ``.skipped`` with the reason instead of raising. A missing folder raises
    ``FileNotFoundError``.
    """
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such file or folder")
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    found = LoadedFolder()
    for p in files:
        try:
            ds = _read_one(p)
        except InvalidDicomError as exc:
            found.skipped.append((str(p), str(exc) or "not a DICOM file"))
            continue
        except Exception as exc:  # noqa: BLE001 - a broken file must not stop the other files from loading
            found.skipped.append((str(p), f"unreadable: {type(exc).__name__}: {exc}"))
            continue
        if ds.file_meta.get("MediaStorageSOPClassUID") == MediaStorageDirectoryStorage:
            found.skipped.append((str(p), "a DICOMDIR (an index of files), not an instance"))
            continue
        found.append(ds)
    return found


def write_folder(datasets: Iterable[Dataset], folder: str | os.PathLike) -> list[Path]:
    """Write each dataset as ``<SOPInstanceUID>.dcm`` (DICOM Part 10 files) into ``folder``."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for ds in datasets:
        p = out / f"{ds.SOPInstanceUID}.dcm"
        dcmwrite(p, ds, enforce_file_format=True)
        paths.append(p)
    return paths


# --------------------------------------------------------------------------------------------
# C-STORE with pynetdicom


def _ts_of(ds: Dataset) -> UID | None:
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    return UID(ts) if ts else None


def _context_key(ds: Dataset) -> tuple[str, str]:
    ts = _ts_of(ds)
    # Uncompressed syntaxes share one context: pynetdicom re-encodes between them, so the
    # receiver may pick whichever it prefers.
    return str(ds.SOPClassUID), "uncompressed" if ts in _UNCOMPRESSED else str(ts)


def _build_contexts(keys: Iterable[tuple[str, str]]) -> list[PresentationContext]:
    contexts = []
    for sop_class, ts in keys:
        syntaxes = (
            [ExplicitVRLittleEndian, ImplicitVRLittleEndian] if ts == "uncompressed" else [ts]
        )
        contexts.append(build_context(sop_class, syntaxes))
    return contexts


def _accepted(assoc, key: tuple[str, str]) -> bool:
    sop_class, ts = key
    for cx in assoc.accepted_contexts:
        if cx.abstract_syntax != sop_class or not cx.transfer_syntax:
            continue
        agreed = cx.transfer_syntax[0]
        if agreed == ts or (ts == "uncompressed" and agreed in _UNCOMPRESSED):
            return True
    return False


def _batches(
    datasets: Sequence[Dataset],
) -> list[tuple[list[tuple[str, str]], list[Dataset]]]:
    """Split into runs that each need at most 128 presentation contexts (one association each)."""
    batches: list[tuple[list[tuple[str, str]], list[Dataset]]] = []
    keys: dict[tuple[str, str], None] = {}
    current: list[Dataset] = []
    for ds in datasets:
        key = _context_key(ds)
        if key not in keys and len(keys) == MAX_CONTEXTS:
            batches.append((list(keys), current))
            keys, current = {}, []
        keys[key] = None
        current.append(ds)
    if current:
        batches.append((list(keys), current))
    return batches


def _nodelay(event) -> None:
    # Nagle's algorithm holds back the small PDUs that end each C-STORE, costing tens of
    # milliseconds per instance against some receivers.
    with contextlib.suppress(AttributeError, OSError):
        event.assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _unreachable_reason(host: str, port: int, timeout: float) -> str:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return "the port accepts TCP connections but the DICOM association failed"
    except ConnectionRefusedError:
        return "connection refused (nothing is listening there)"
    except TimeoutError:
        return f"no answer within {timeout:g} s (a firewall, or the wrong host)"
    except OSError as exc:
        return exc.strerror or str(exc)


class _Link:
    """One association at a time to one peer, remade when it drops."""

    def __init__(self, *, host, port, calling_aet, called_aet, timeout, keys):
        self.host, self.port = host, port
        self.called_aet = called_aet
        self.timeout = timeout
        self.keys = keys
        self.ae = AE(ae_title=calling_aet)
        self.ae.acse_timeout = timeout
        self.ae.dimse_timeout = timeout
        self.ae.network_timeout = timeout
        self.ae.connection_timeout = timeout
        self.assoc = None

    def open(self) -> None:
        response: dict = {}

        def on_acse_recv(event) -> None:
            response["primitive"] = event.primitive

        def on_pdu_recv(event) -> None:
            # Read the rejection off the wire as well: when the peer rejects and closes at
            # once, pynetdicom's ACSE can find the socket closed before it reads its queue
            # and report a bare abort (about one try in ten on a loaded machine), which
            # would hide the reason the receiver gave.
            if isinstance(event.pdu, A_ASSOCIATE_RJ):
                response["rejection"] = event.pdu.to_primitive()

        def on_conn_open(event) -> None:
            response["connected"] = True
            _nodelay(event)

        self.assoc = self.ae.associate(
            self.host,
            self.port,
            contexts=_build_contexts(self.keys),
            ae_title=self.called_aet,
            evt_handlers=[
                (evt.EVT_CONN_OPEN, on_conn_open),
                (evt.EVT_ACSE_RECV, on_acse_recv),
                (evt.EVT_PDU_RECV, on_pdu_recv),
            ],
        )
        if self.assoc.is_established:
            return
        where = f"{self.host}:{self.port}"
        if not response.get("connected"):
            reason = _unreachable_reason(self.host, self.port, min(self.timeout, 5.0))
            raise SendError(
                f"Cannot connect to the DICOM receiver at {where}: {reason}. Is the reading "
                "center's Orthanc running? `make demo` starts it; check the host and the DICOM "
                "port (ORTHANC_DICOM_PORT)."
            )
        rsp = response.get("rejection")
        if rsp is not None:
            raise SendError(
                f"The receiver at {where} rejected the association from "
                f"{self.ae.ae_title!r} to {self.called_aet!r}: {rsp.result_str}, "
                f"{rsp.source_str}: {rsp.reason_str}. Check the called AE title (ORTHANC_AET) "
                "and that the calling AE title is registered with the receiver."
            )
        rsp = response.get("primitive")
        if self.assoc.is_aborted and not self.assoc.accepted_contexts and rsp is not None:
            raise SendError(
                f"The receiver at {where} accepted none of the {len(self.keys)} proposed "
                "presentation contexts (SOP class and transfer syntax): it does not store these "
                "kinds of objects or encodings."
            )
        raise SendError(
            f"The association with {where} failed (aborted or timed out after "
            f"{self.timeout:g} s). Is it a DICOM port?"
        )

    @property
    def up(self) -> bool:
        return self.assoc is not None and self.assoc.is_established

    def close(self) -> None:
        if self.assoc is not None and self.assoc.is_established:
            self.assoc.release()
        self.assoc = None


def _store_one(link: _Link, ds: Dataset, msg_id: int, result: SendResult, retries: int) -> None:
    key = _context_key(ds)
    for attempt in range(retries + 1):
        if not link.up:
            link.close()
            link.open()
            result.associations += 1
        if not _accepted(link.assoc, key):
            result._fail(
                ds,
                None,
                f"the receiver did not accept {UID(key[0]).name} "
                f"in {'an uncompressed syntax' if key[1] == 'uncompressed' else UID(key[1]).name}",
            )
            return
        try:
            status = link.assoc.send_c_store(ds, msg_id=msg_id)
        except (ValueError, AttributeError, TypeError) as exc:
            result._fail(ds, None, f"could not encode the instance: {exc}")
            return
        except RuntimeError:
            status = Dataset()  # the association went away under us: treat as no answer
        if "Status" not in status:
            # No answer: the association was aborted or timed out. Whether the receiver kept
            # the instance is unknown, so send it again on a fresh association (receivers treat
            # a repeated SOP Instance UID as the same instance).
            link.close()
            if attempt < retries:
                continue
            result._fail(ds, None, "no response from the receiver (association lost)")
            return
        code = int(status.Status)
        category = code_to_category(code)
        if category == "Success":
            result.sent += 1
        elif category == "Warning":
            result.sent += 1
            result.warnings += 1
        else:
            meaning = STORAGE_SERVICE_CLASS_STATUS.get(code, (category, "unknown status"))[1]
            comment = status.get("ErrorComment")
            result._fail(ds, code, f"0x{code:04X} {meaning}" + (f": {comment}" if comment else ""))
        return


def send_datasets(
    datasets: Sequence[Dataset],
    *,
    host: str,
    port: int,
    calling_aet: str,
    called_aet: str,
    progress: ProgressCallback | None = None,
    timeout: float = 30.0,
    retries: int = 2,
) -> SendResult:
    """C-STORE ``datasets`` to ``called_aet`` at ``host:port`` as ``calling_aet``.

    One association carries everything (more only past 128 SOP class / transfer syntax pairs);
    if it drops, a new one is made and the unanswered instance sent again, up to ``retries``
    times. Per-instance refusals are counted in the result; ``SendError`` means the receiver
    could not be reached or refused the association (``.result`` has the partial counts).
    """
    for label, aet in (("calling", calling_aet), ("called", called_aet)):
        if not aet or len(aet) > 16 or "\\" in aet or not aet.isascii():
            raise SendError(f"The {label} AE title {aet!r} is not valid: 1-16 ASCII characters.")
    result = SendResult(total=len(datasets))
    started = time.perf_counter()
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, result.total)

    sendable = []
    for ds in datasets:
        missing = [k for k in ("SOPClassUID", "SOPInstanceUID") if k not in ds]
        if missing or _ts_of(ds) is None:
            result._fail(ds, None, f"missing {', '.join(missing) or 'file meta TransferSyntaxUID'}")
            tick()
        else:
            sendable.append(ds)

    msg_id = 0
    try:
        for keys, batch in _batches(sendable):
            link = _Link(
                host=host,
                port=port,
                calling_aet=calling_aet,
                called_aet=called_aet,
                timeout=timeout,
                keys=keys,
            )
            try:
                for ds in batch:
                    msg_id = msg_id % 65535 + 1
                    _store_one(link, ds, msg_id, result, retries)
                    tick()
            finally:
                link.close()
    except SendError as exc:
        result.elapsed = time.perf_counter() - started
        exc.result = result
        raise
    result.elapsed = time.perf_counter() - started
    return result


# --------------------------------------------------------------------------------------------
# C-STORE with dcmtk's storescu (for comparison and benchmarks)

_RESPONSE = re.compile(r"Received Store Response \(([^)]*)\)")
# storescu proposes uncompressed syntaxes unless told; each of these flags adds one compressed
# syntax (and it takes only one).
_STORESCU_PROPOSE = {
    "1.2.840.10008.1.2.5": "-xr",  # RLE Lossless
    "1.2.840.10008.1.2.4.70": "-xs",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.50": "-xy",  # JPEG Baseline
    "1.2.840.10008.1.2.4.51": "-xx",  # JPEG Extended 12-bit
    "1.2.840.10008.1.2.4.90": "-xv",  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91": "-xw",  # JPEG 2000
    "1.2.840.10008.1.2.4.80": "-xt",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81": "-xu",  # JPEG-LS Near-lossless
    "1.2.840.10008.1.2.1.99": "-xd",  # Deflated Explicit VR Little Endian
}


def send_with_storescu(
    datasets: Sequence[Dataset],
    *,
    host: str,
    port: int,
    calling_aet: str,
    called_aet: str,
    progress: ProgressCallback | None = None,
    timeout: float = 30.0,
) -> SendResult:
    """Like ``send_datasets`` but through dcmtk's ``storescu`` (files in a temporary folder).

    ``TCP_NODELAY=1`` goes in its environment: dcmtk leaves Nagle's algorithm on otherwise and
    runs at a twentieth of the speed against Orthanc.
    """
    exe = shutil.which("storescu")
    if exe is None:
        raise SendError("dcmtk's storescu is not installed (apt-get install dcmtk).")
    flags = _storescu_propose_flags(datasets)
    result = SendResult(total=len(datasets))
    with tempfile.TemporaryDirectory(prefix="send-studies-") as tmp:
        write_folder(datasets, tmp)
        cmd = [exe, "-v", "-R", *flags, "+sd", "+r", "-aet", calling_aet, "-aec", called_aet]
        cmd += ["-to", str(int(timeout)), "-ta", str(int(timeout)), "-td", str(int(timeout))]
        cmd += [host, str(port), tmp]
        env = {**os.environ, "TCP_NODELAY": "1"}
        started = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        assert proc.stdout is not None
        tail = _count_storescu_responses(proc.stdout, result, progress)
        rc = proc.wait()
        result.elapsed = time.perf_counter() - started
    if rc != 0 and result.sent == 0:
        raise _storescu_error(host, port, rc, tail, result)
    unanswered = result.total - result.sent - result.failed
    if unanswered > 0:
        result.failed += unanswered
        result.failures.append(
            SendFailure(
                "", "", None, f"{unanswered} instances got no response (storescu exit {rc})"
            )
        )
    return result


def _storescu_propose_flags(datasets: Sequence[Dataset]) -> set[str]:
    """The storescu option proposing the instances' compressed transfer syntax (none if none).

    storescu proposes one compressed syntax per run, from a fixed list: anything else is a
    SendError that points at the default sender.
    """
    compressed = {str(_ts_of(ds)) for ds in datasets} - {str(ts) for ts in _UNCOMPRESSED}
    flags = {_STORESCU_PROPOSE.get(ts, f"? ({ts})") for ts in compressed}
    if len(flags) > 1 or any(f.startswith("?") for f in flags):
        raise SendError(
            "storescu can propose only one compressed transfer syntax per run, from a fixed list; "
            f"these instances use {', '.join(sorted(compressed))}. Use the default sender."
        )
    return flags


def _count_storescu_responses(
    lines: Iterable[str], result: SendResult, progress: ProgressCallback | None
) -> list[str]:
    """Count each C-STORE response storescu logs into ``result``; returns its last lines."""
    tail: list[str] = []
    for line in lines:
        tail = [*tail[-20:], line.rstrip()]
        m = _RESPONSE.search(line)
        if not m:
            continue
        status = m.group(1)
        if status == "Success":
            result.sent += 1
        elif status.startswith("Warning"):
            result.sent += 1
            result.warnings += 1
        else:
            result.failed += 1
            result.failures.append(SendFailure("", "", None, status))
        if progress is not None:
            progress(result.sent + result.failed, result.total)
    return tail


def _storescu_error(
    host: str, port: int, rc: int, tail: list[str], result: SendResult
) -> SendError:
    """storescu sent nothing: its last lines, and a hint when it could not connect."""
    text = "\n".join(tail[-6:])
    hint = ""
    if "refused" in text.lower() or "connection" in text.lower():
        hint = (
            " Is the reading center's Orthanc running? `make demo` starts it; check the host"
            " and the DICOM port (ORTHANC_DICOM_PORT)."
        )
    return SendError(
        f"storescu could not send to {host}:{port} (exit {rc}).{hint}\n{text}", result=result
    )
