"""Running the reading center's own Orthanc: its configuration and its process.

The demo, the tests and the benchmarks all start Orthanc through here, with a configuration
generated under ``var/`` (never Debian's /etc/orthanc, whose service may also be running).
It needs no Django settings, so that test fixtures and benchmarks can use it directly.

The index (which patients, studies, series and instances Orthanc holds, its change log and
metadata) lives in PostgreSQL through Debian's orthanc-postgresql plugin (4.0) whenever it is
installed; the DICOM files stay on the filesystem. Plugin 4.0 is the first that lets several
Orthanc servers share one index ("Lock": false, the same configuration on every node), which
is what a cluster needs: one change log that every follower reads, whichever node received a
file. SQLite (a file under the node's folder) remains for machines without the plugin.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from readingcenter.pacs.orthanc import OrthancClient, OrthancError

PLUGIN_DIRS = ("/usr/share/orthanc/plugins", "/usr/lib/orthanc")
PLUGINS = ("libOrthancDicomWeb.so", "libOrthancGdcm.so")
POSTGRESQL_INDEX_PLUGIN = "libOrthancPostgreSQLIndex.so"


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


def postgresql_index_plugin() -> str | None:
    """The PostgreSQL index plugin's path, or None where orthanc-postgresql is not installed."""
    for directory in PLUGIN_DIRS:
        candidate = Path(directory) / POSTGRESQL_INDEX_PLUGIN
        if candidate.exists():
            return str(candidate)
    return None


@dataclass(frozen=True)
class PostgresIndex:
    """Where an Orthanc keeps its index in PostgreSQL (its own database, never Django's)."""

    host: str
    port: int
    database: str
    username: str
    password: str = ""

    @classmethod
    def from_url(cls, url: str) -> PostgresIndex:
        from urllib.parse import unquote, urlsplit

        parts = urlsplit(url)
        if parts.scheme not in ("postgres", "postgresql") or not parts.path.strip("/"):
            raise OrthancServerError(
                f"ORTHANC_INDEX_URL {url!r} is not postgresql://user@host:port/database "
                "(or 'sqlite' for a file index)"
            )
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            database=unquote(parts.path.strip("/")),
            username=unquote(parts.username or "postgres"),
            password=unquote(parts.password or ""),
        )

    @property
    def url(self) -> str:
        from urllib.parse import quote

        secret = f":{quote(self.password, safe='')}" if self.password else ""
        return (
            f"postgresql://{quote(self.username, safe='')}{secret}@{self.host}:{self.port}/"
            f"{quote(self.database, safe='')}"
        )

    def as_json(self) -> dict:
        return {
            "EnableIndex": True,
            # The files stay on the filesystem: PostgreSQL holds what is queried, not pixels.
            "EnableStorage": False,
            "Host": self.host,
            "Port": self.port,
            "Database": self.database,
            "Username": self.username,
            "Password": self.password,
            # No lock: several Orthanc nodes share this index (plugin 4.0's serializable
            # transactions, retried, keep it consistent).
            "Lock": False,
            "EnableSsl": False,
            # A write that collides with another node's is retried this many times, then
            # Orthanc answers 503 (the sender retries the C-STORE, our client the request).
            "MaximumConnectionRetries": 10,
            "ConnectionRetryInterval": 1,
            "IndexConnectionsCount": 4,
        }

    def ensure_database(self) -> bool:
        """Create the database if it is missing; True when it was created."""
        import psycopg

        admin = PostgresIndex(self.host, self.port, "postgres", self.username, self.password)
        with psycopg.connect(admin.url, autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute(
                "select 1 from pg_database where datname = %s", (self.database,)
            ).fetchone()
            if exists:
                return False
            conn.execute(f'create database "{self.database}"')
            return True

    def drop_database(self) -> None:
        import psycopg

        admin = PostgresIndex(self.host, self.port, "postgres", self.username, self.password)
        with psycopg.connect(admin.url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'drop database if exists "{self.database}" with (force)')


# Ports this process has handed out. The kernel may give the same ephemeral port to two
# binds in a row once the first socket is closed, so one config's HTTP and DICOM ports
# could be equal (seen in CI: Orthanc then exits 255 at start).
_PORTS_GIVEN: set[int] = set()
_PORTS_LOCK = threading.Lock()


def free_port() -> int:
    with _PORTS_LOCK:
        for _ in range(100):
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            if port not in _PORTS_GIVEN:
                _PORTS_GIVEN.add(port)
                return port
    raise OrthancServerError("no free TCP port found after 100 tries; free some ports and retry")


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
    # None: the SQLite index under ``directory``. Nodes of one cluster name the same index.
    index: PostgresIndex | None = None
    # None: ``directory``/storage. Nodes sharing an index must share the files too (one
    # folder on one machine, a network filesystem across machines): any node may be asked
    # for an instance another node received.
    storage: Path | None = None
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
            "StorageDirectory": str(self.storage_directory),
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
            "Plugins": self.plugins(),
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
        if self.index is not None:
            config["PostgreSQL"] = self.index.as_json()
            # The hospitals' PACS (where reports go back) are declared at run time through
            # /modalities: in the shared index every node knows them, whichever was told.
            config["DicomModalitiesInDatabase"] = True
        config.update(self.extra)
        return config

    def plugins(self) -> list[str]:
        paths = plugin_paths()
        if self.index is not None:
            plugin = postgresql_index_plugin()
            if plugin is None:
                raise OrthancServerError(
                    "this Orthanc is configured with a PostgreSQL index but the plugin is "
                    "missing: install orthanc-postgresql (`make setup` does), or set "
                    "ORTHANC_INDEX_URL=sqlite"
                )
            paths.append(plugin)
        return paths

    @property
    def storage_directory(self) -> Path:
        return self.storage or self.directory / "storage"

    def write(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.storage_directory.mkdir(parents=True, exist_ok=True)
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
