"""A hospital's receiving systems, for the demo, the benchmarks and the tests.

The other half of the hospital simulator (``sender.py`` plays the modality): what a hospital
runs to take our reports back.

* ``InterfaceEngine``: an HL7 v2 interface engine listening for MLLP; answers each message
  with an ACK (AA by default, or whatever ``answer`` says) and keeps what it received.
* ``FhirServer``: a FHIR server taking ``POST [base]/DiagnosticReport``. By default it
  honours conditional create (``If-None-Exist: identifier=system|value``) as a real server
  does: a report it already has is answered 200 with the stored one, not stored twice.
* ``Pacs``: dcmtk's ``storescp`` as the hospital's PACS, writing what it receives to a folder.

Each can be stopped and started again on the same port, to play a hospital whose link is
down for a while.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

MLLP_START, MLLP_END = b"\x0b", b"\x1c\r"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_listener(port: int, timeout: float = 10.0) -> None:
    """Wait until something listens on ``port``, without connecting to it.

    It looks in /proc: storescp serves one association at a time, and a probe connection
    could delay the real one.
    """
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


def ack_for(message: str, code: str = "AA", text: str = "", control_id: str | None = None) -> str:
    """An HL7 ACK for ``message`` as an interface engine writes it."""
    import hl7

    msh = hl7.parse(message).segment("MSH")
    control_id = control_id if control_id is not None else str(msh[10])
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    header = (
        f"MSH|^~\\&|{msh[5]}|{msh[6]}|{msh[3]}|{msh[4]}|{stamp}||ACK^R01^ACK|"
        f"ACK{control_id}|P|2.5.1|||||UNICODE UTF-8"
    )
    return f"{header}\rMSA|{code}|{control_id}|{text}\r"


class InterfaceEngine:
    """An MLLP listener. ``answer(message) -> str | None``: the ACK to send (None: say
    nothing and keep the connection open, as a hung engine does; "": hang up)."""

    def __init__(
        self,
        answer: Callable[[str], str | None] | None = None,
        *,
        port: int = 0,
        folder: Path | None = None,
        on_message: Callable[[str, str], None] | None = None,
    ):
        self.answer = answer or ack_for
        self.folder, self.on_message = folder, on_message
        self.received: list[str] = []
        self.port = port
        self._lock = threading.Lock()
        self.server: socket.socket | None = None
        self.start()

    def start(self) -> InterfaceEngine:
        self.server = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        self.port = self.server.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="mllp")
        self._thread.start()
        return self

    def _serve(self) -> None:
        self.server.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        with conn:
            buffer = b""
            conn.settimeout(5)
            while not self._stop.is_set():
                while MLLP_END not in buffer:
                    try:
                        chunk = conn.recv(65536)
                    except (TimeoutError, OSError):
                        return
                    if not chunk:
                        return
                    buffer += chunk
                frame, _, buffer = buffer.partition(MLLP_END)
                text = frame[frame.index(MLLP_START) + 1 :].decode("utf-8")
                with self._lock:
                    self.received.append(text)
                    if self.folder is not None:
                        self.folder.mkdir(parents=True, exist_ok=True)
                        name = f"{len(self.received):05d}.hl7"
                        (self.folder / name).write_text(text.replace("\r", "\n"), "utf-8")
                reply = self.answer(text)
                if self.on_message is not None:
                    self.on_message(text, reply or "")
                if reply is None:
                    self._stop.wait(30)
                    return
                if reply == "":
                    return
                conn.sendall(MLLP_START + reply.encode("utf-8") + MLLP_END)

    def stop(self) -> None:
        self._stop.set()
        if self.server is not None:
            self.server.close()
        self._thread.join(timeout=5)

    close = stop


class FhirServer:
    """``answer(method, path, headers, body) -> (status, headers, document | None)``; by
    default, conditional create that keeps each identifier once."""

    def __init__(
        self,
        answer=None,
        *,
        port: int = 0,
        folder: Path | None = None,
        on_request: Callable[[dict, int], None] | None = None,
    ):
        self.answer = answer or self.conditional_create
        self.folder, self.on_request = folder, on_request
        self.requests: list[dict] = []
        self.stored: dict[str, dict] = {}  # "system|value" -> resource
        self._lock = threading.Lock()
        self.port = port
        self.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    def conditional_create(self, method, path, headers, body):
        resource = json.loads(body or b"{}")
        condition = headers.get("If-None-Exist", "")
        key = condition.partition("identifier=")[2]
        with self._lock:
            if key and key in self.stored:
                return 200, {}, self.stored[key]
            resource["id"] = f"dr-{len(self.stored) + 1}"
            self.stored[key or resource["id"]] = resource
            if self.folder is not None:
                self.folder.mkdir(parents=True, exist_ok=True)
                (self.folder / f"{resource['id']}.json").write_text(json.dumps(resource, indent=1))
        location = f"{self.base_url}/DiagnosticReport/{resource['id']}/_history/1"
        return 201, {"Location": location}, None

    def start(self) -> FhirServer:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        server_side = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                record = {"path": self.path, "headers": dict(self.headers.items()), "body": body}
                server_side.requests.append(record)
                status, headers, document = server_side.answer(
                    "POST", self.path, record["headers"], body
                )
                if server_side.on_request is not None:
                    server_side.on_request(record, status)
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

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    close = stop


class Pacs:
    """dcmtk's storescp as the hospital's PACS, storing into ``folder``."""

    def __init__(self, *, ae_title: str, folder: Path, port: int = 0, log: Path | None = None):
        self.ae_title, self.folder, self.port, self.log = ae_title, Path(folder), port, log
        self.process: subprocess.Popen | None = None

    def start(self) -> Pacs:
        self.port = self.port or free_port()
        self.folder.mkdir(parents=True, exist_ok=True)
        output = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            ["storescp", "+xa", "-aet", self.ae_title, "-od", str(self.folder), str(self.port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            # Without it DCMTK leaves Nagle's algorithm on (about 20 times slower).
            env={"TCP_NODELAY": "1", "PATH": "/usr/bin:/bin"},
        )
        wait_for_listener(self.port)
        return self

    def received(self) -> list[Path]:
        return sorted(p for p in self.folder.iterdir() if p.is_file())

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None
