"""Signed reports to deliver, and the hospital-side peers that receive them.

The document is what the reports app hands to delivery: a Korean patient written in both
scripts, Korean and Chinese in the text (only UTF-8 carries all of it), the HL7 delimiters in
the findings (they must arrive escaped and come back intact), a confirmed AI finding and a
critical finding.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from readingcenter.delivery.document import (
    AIFinding,
    CodedConcept,
    CriticalFinding,
    ReportDocument,
)

SIGNED_AT = dt.datetime(2025, 3, 14, 9, 26, 53, tzinfo=dt.UTC)  # 18:26:53 in Seoul
FINDINGS = (
    "좌측 전두엽 경막하 출혈, 두께 8 mm.\n"
    "Acute left frontal subdural hemorrhage, 8 mm thick; midline shift 3 mm.\n"
    "Delimiters kept as written: A|B ^ C&D ~ E\\F."
)
IMPRESSION = "급성 경막하 출혈. Acute subdural hemorrhage with mass effect; neurosurgery advised."

needs_dcmtk = pytest.mark.skipif(shutil.which("storescp") is None, reason="dcmtk not installed")
needs_dciodvfy = pytest.mark.skipif(
    shutil.which("dciodvfy") is None, reason="dicom3tools not installed"
)

AI_ICH = AIFinding(
    finding="ich",
    label="intracranial hemorrhage",
    code=CodedConcept("1386000", "Intracranial hemorrhage"),
    probability=0.934,
    threshold=0.5,
    model_name="head-ct-ich",
    model_version="1.0.0",
    weights_sha256="9f2c" + "0" * 60,
    confirmed=True,
)


def build_document(status: str = "final", **overrides) -> ReportDocument:
    """A signed report of study 1.2.826.0.1.3680043.10.1138.7 in one of its three versions."""
    version = {"preliminary": 1, "final": 2, "amended": 3}[status]
    values = {
        "report_id": 42,
        "version_number": version,
        "status": status,
        "replaces_version": version - 1 or None,
        "idempotency_key": f"report-42-v{version}",
        "uid_root": "1.2.826.0.1.3680043.10.1138",
        "hospital_name": "서울북부병원 Seoul North Hospital",
        "hospital_code": "seoulnorth",
        "hospital_time_zone": "Asia/Seoul",
        "study_instance_uid": "1.2.826.0.1.3680043.10.1138.9.20250314.1",
        "accession_number": "SN-2025-0001",
        "patient_id": "SN00012345",
        "patient_name": "Kim^Jisoo=김^지수",
        "patient_birth_date": dt.date(1961, 5, 2),
        "patient_sex": "F",
        "study_date": dt.date(2025, 3, 14),
        "study_time": dt.time(17, 58, 11),
        "study_description": "CT HEAD W/O CONTRAST",
        "modality": "CT",
        "referring_physician_name": "Park^Minho=朴^敏浩",
        "study_id": "7731",
        "requested_procedure": "CT brain, non-contrast",
        "clinical_history": "두통, 구토 (headache, vomiting). 头痛. Fall yesterday.",
        "technique": "Axial non-contrast CT of the head, 5 mm slices.",
        "comparison": "None available.",
        "findings": FINDINGS,
        "impression": IMPRESSION,
        "addendum_text": "",
        "critical_findings": (
            CriticalFinding("Acute subdural hemorrhage with midline shift", "minutes"),
        ),
        "ai_findings": (AI_ICH,),
        "signed_by_name": "Lee Seoyeon, MD",
        "signed_by_username": "dr.lee",
        "signed_at": SIGNED_AT + dt.timedelta(minutes=10 * version),
        "signature_meaning": {
            "preliminary": "preliminary report",
            "final": "final report",
            "amended": "addendum",
        }[status],
        "content_sha256": "3b4f" + "a1" * 30,
        "reading_center_name": "Hanbit Teleradiology Reading Center",
    }
    if status == "amended":
        values["addendum_text"] = (
            "추가: 우측 소량 경막하 출혈도 있음. Addendum: a small right subdural "
            "hemorrhage is also present."
        )
    values.update(overrides)
    return ReportDocument(**values)


@pytest.fixture
def report_document():
    """``report_document(status="final", **fields)``: build a signed report to deliver."""
    return build_document


def with_ai(doc: ReportDocument, **changes) -> ReportDocument:
    return dataclasses.replace(doc, ai_findings=(dataclasses.replace(AI_ICH, **changes),))


# -- peers ------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_listener(port: int, timeout: float = 10.0) -> None:
    # Look for the listening socket in /proc instead of connecting: storescp serves one
    # association at a time, and a probe connection could delay the test's real one.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                rows = Path(table).read_text().splitlines()[1:]
            except OSError:
                continue
            for row in rows:
                fields = row.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


@pytest.fixture
def hospital_pacs(tmp_path):
    """dcmtk's storescp as the hospital's PACS (AE SEOULNORTH_PACS): (port, folder)."""
    port = free_port()
    folder = tmp_path / "hospital-pacs"
    folder.mkdir()
    proc = subprocess.Popen(
        ["storescp", "+xa", "-aet", "SEOULNORTH_PACS", "-od", str(folder), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={"TCP_NODELAY": "1", "PATH": "/usr/bin:/bin"},
    )
    wait_for_listener(port)
    yield port, folder
    proc.terminate()
    proc.wait(timeout=10)


class MLLPListener:
    """A hospital's HL7 interface engine: reads framed messages, answers what it is told.

    ``answer(message_text) -> str | None`` makes the ACK's text (None: say nothing and keep
    the connection open, as a hung engine does; "": hang up without answering).
    """

    def __init__(self, answer):
        self.answer = answer
        self.received: list[str] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.server.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                self._handle(conn)

    def _handle(self, conn: socket.socket) -> None:
        buffer = b""
        conn.settimeout(5)
        while b"\x1c\r" not in buffer:
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                return
            if not chunk:
                return
            buffer += chunk
        text = buffer[buffer.index(b"\x0b") + 1 : buffer.index(b"\x1c\r")].decode("utf-8")
        self.received.append(text)
        reply = self.answer(text)
        if reply is None:
            self._stop.wait(30)  # hold the connection open, answer nothing
            return
        if reply == "":
            return  # hang up without a word
        conn.sendall(b"\x0b" + reply.encode("utf-8") + b"\x1c\r")

    def close(self) -> None:
        self._stop.set()
        self.server.close()
        self._thread.join(timeout=5)


def ack_for(message: str, code: str = "AA", text: str = "", control_id: str | None = None) -> str:
    """An HL7 ACK for ``message`` as an interface engine writes it."""
    import hl7

    msh = hl7.parse(message).segment("MSH")
    control_id = control_id if control_id is not None else str(msh[10])
    header = (
        f"MSH|^~\\&|{msh[5]}|{msh[6]}|{msh[3]}|{msh[4]}|20250314183000||ACK^R01^ACK|"
        f"ACK{control_id}|P|2.5.1|||||UNICODE UTF-8"
    )
    return f"{header}\rMSA|{code}|{control_id}|{text}\r"


@pytest.fixture
def mllp_listener():
    listeners: list[MLLPListener] = []

    def start(answer=None) -> MLLPListener:
        listener = MLLPListener(answer or (lambda message: ack_for(message)))
        listeners.append(listener)
        return listener

    yield start
    for listener in listeners:
        listener.close()


class FHIRReceiver:
    """A hospital's FHIR server: records each request and answers what ``answer`` returns.

    ``answer(method, path, headers, body) -> (status, headers, body_dict_or_None)``.
    """

    def __init__(self, answer):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                record = {"path": self.path, "headers": dict(self.headers.items()), "body": body}
                receiver.requests.append(record)
                status, headers, document = answer("POST", self.path, record["headers"], body)
                payload = json.dumps(document).encode() if document is not None else b""
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if payload:
                    self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/fhir"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


def created(method, path, headers, body):
    return 201, {"Location": "http://hospital.example/fhir/DiagnosticReport/dr-77/_history/1"}, None


@pytest.fixture
def fhir_receiver():
    receivers: list[FHIRReceiver] = []

    def start(answer=created) -> FHIRReceiver:
        receiver = FHIRReceiver(answer)
        receivers.append(receiver)
        return receiver

    yield start
    for receiver in receivers:
        receiver.close()
