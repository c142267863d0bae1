"""Running the reading center's own Orthanc: its configuration and its process.

The demo, the tests and the benchmarks all start Orthanc through here, with a configuration
generated under ``var/`` (never Debian's /etc/orthanc, whose service may also be running).
It needs no Django settings, so that test fixtures and benchmarks can use it directly.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from readingcenter.pacs.orthanc import OrthancClient, OrthancError

PLUGIN_DIRS = ("/usr/share/orthanc/plugins", "/usr/lib/orthanc")
PLUGINS = ("libOrthancDicomWeb.so", "libOrthancGdcm.so")


class OrthancServerError(RuntimeError):
    pass


def orthanc_binary() -> str:
    path = shutil.which("Orthanc") or (
        "/usr/sbin/Orthanc" if Path("/usr/sbin/Orthanc").exists() else None
    )
    if not path:
        raise OrthancServerError(
            "Orthanc is not installed: run `make setup` (it installs the Debian packages "
            "orthanc, orthanc-dicomweb and orthanc-gdcm)"
        )
    return path


def plugin_paths() -> list[str]:
    found = []
    for name in PLUGINS:
        for directory in PLUGIN_DIRS:
            candidate = Path(directory) / name
            if candidate.exists():
                found.append(str(candidate))
                break
        else:
            raise OrthancServerError(
                f"Orthanc plugin {name} is missing: install orthanc-dicomweb and orthanc-gdcm"
            )
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class OrthancConfig:
    directory: Path
    http_port: int
    dicom_port: int
    aet: str = "READINGCENTER"
    username: str = "readingcenter"
    password: str = "demo-orthanc-password"  # noqa: S105 - the demo's; production sets ORTHANC_PASSWORD
    stable_age: int = 5
    name: str = "reading-center"
    extra: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def path(self) -> Path:
        return self.directory / "orthanc.json"

    def as_json(self) -> dict:
        config = {
            "Name": self.name,
            "StorageDirectory": str(self.directory / "storage"),
            "IndexDirectory": str(self.directory / "index"),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": self.aet,
            # Orthanc has no bind address: with remote access off, only loopback may use the
            # REST API; the web and the follower reach it on 127.0.0.1, nobody else does.
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": True,
            "RegisteredUsers": {self.username: self.password},
            "StableAge": self.stable_age,
            # Accept every calling AE: an unknown sender is quarantined by us, not refused by
            # Orthanc, so that nothing a hospital sends is lost while it is being onboarded.
            "DicomAlwaysAllowStore": True,
            "DicomCheckCalledAet": False,
            "OverwriteInstances": False,
            "StorageCompression": False,
            # Only loopback clients talk to this REST API: gzip would cost CPU and save nothing.
            "HttpCompressionEnabled": False,
            "KeepAlive": True,
            "TcpNoDelay": True,
            "ConcurrentJobs": 2,
            "HttpThreadsCount": 50,
            "DicomThreadsCount": 8,
            "DefaultEncoding": "Utf8",
            "DeidentifyLogs": True,
            "Plugins": plugin_paths(),
            "DicomWeb": {
                "Enable": True,
                "Root": "/dicom-web/",
                "EnableWado": True,
                "WadoRoot": "/wado",
                "Ssl": False,
                "StudiesMetadata": "Full",
                "SeriesMetadata": "Full",
            },
            "Gdcm": {"Enable": True},
            "DicomModalities": {},
        }
        config.update(self.extra)
        return config

    def write(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "storage").mkdir(exist_ok=True)
        (self.directory / "index").mkdir(exist_ok=True)
        # The file holds the REST password: readable by its owner only.
        self.path.touch(mode=0o600, exist_ok=True)
        self.path.write_text(json.dumps(self.as_json(), indent=2), encoding="utf-8")
        return self.path


class OrthancProcess:
    """A running Orthanc of ours. Start, wait until it answers, stop (or kill) it."""

    def __init__(self, config: OrthancConfig, *, log_path: Path | None = None):
        self.config = config
        self.log_path = log_path or config.directory / "orthanc.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> OrthancProcess:
        self.config.write()
        env = dict(os.environ)
        # DCMTK keeps Nagle's algorithm on without this: ~20 instead of ~400 instances/s.
        env["TCP_NODELAY"] = "1"
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process
        self.process = subprocess.Popen(
            [orthanc_binary(), str(self.config.path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        log.close()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        client = self.client(timeout=1.0)
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise OrthancServerError(
                    f"Orthanc exited with {self.process.returncode} at start; see {self.log_path} "
                    f"(is port {self.config.http_port} or {self.config.dicom_port} already in use?)"
                )
            try:
                client.system()
                return
            except OrthancError:
                pass
            time.sleep(0.1)
        raise OrthancServerError(
            f"Orthanc did not answer within {timeout:.0f}s; see {self.log_path}"
        )

    def client(self, timeout: float = 10.0) -> OrthancClient:
        return OrthancClient(
            self.config.url, self.config.username, self.config.password, timeout=timeout
        )

    def stop(self, *, kill: bool = False, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None
