"""A reading-center cluster on one machine: every part twice, behind one front, supervised.

    front (haproxy)   HTTP :8000 -> web-1, web-2 (daphne; WebSockets pass through)
                      DICOM :4242 -> orthanc-1, orthanc-2 (TCP, least connections)
    orthanc-1, -2     one PostgreSQL index, one storage folder (any node serves any file)
    web-i, worker-i,  each talks to orthanc-i first and to the other node when its own is
    follower-i        down (ORTHANC_FALLBACK_URLS); all share PostgreSQL and Redis
    hospital          the demo hospitals' PACS, HL7 engine and FHIR server

The supervisor restarts any part that dies (SIGKILL included), after a short backoff, and
keeps ``var/cluster/parts.json`` (part -> pid, restarts) current, so that fault tests and an
operator can see and kill parts by name. Parts run on loopback ports, not in network
namespaces: the nodes' separation that matters here (their own processes, memory, Orthanc
stability tracking and connections) holds without them, and it needs no root.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from readingcenter.pacs.orthanc_server import (
    OrthancConfig,
    OrthancServerError,
    PostgresIndex,
    orthanc_binary,
)


class ClusterError(RuntimeError):
    pass


@dataclass
class ClusterPorts:
    front_http: int = 8000
    front_dicom: int = 4242
    web: tuple[int, ...] = (8101, 8102)
    orthanc_http: tuple[int, ...] = (8043, 8044)
    orthanc_dicom: tuple[int, ...] = (4251, 4252)

    def all(self) -> list[int]:
        return [
            self.front_http,
            self.front_dicom,
            *self.web,
            *self.orthanc_http,
            *self.orthanc_dicom,
        ]


@dataclass
class Part:
    """One supervised process of the cluster."""

    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen | None = None
    restarts: int = 0
    died_at: float | None = None
    last_exit: int | None = None  # how it ended last time (negative: killed by that signal)

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        self.died_at = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class Cluster:
    """Plans, starts, watches and stops the parts. Django settings are read by the caller."""

    var: Path
    manage: list[str]
    base_env: dict[str, str]
    index: PostgresIndex | None
    ports: ClusterPorts = field(default_factory=ClusterPorts)
    orthanc_username: str = "readingcenter"
    orthanc_password: str = "demo-orthanc-password"  # noqa: S105 - the demo's
    aet: str = "READINGCENTER"
    stable_age: int = 5
    hospital_command: list[str] | None = None
    # A Redis of the cluster's own (a supervised part on this port) instead of REDIS_URL's:
    # what the fault tests kill and bring back.
    redis_port: int | None = None
    restart_backoff: float = 1.0
    parts: dict[str, Part] = field(default_factory=dict)

    # -- the plan -------------------------------------------------------------------------
    def orthanc_configs(self) -> list[OrthancConfig]:
        if self.index is None:
            raise ClusterError(
                "a cluster needs Orthanc's index in PostgreSQL (the orthanc-postgresql plugin; "
                "`make setup` installs it): SQLite cannot be shared between nodes"
            )
        storage = self.var / "storage"
        return [
            OrthancConfig(
                directory=self.var / f"orthanc-{i}",
                http_port=http,
                dicom_port=dicom,
                aet=self.aet,
                username=self.orthanc_username,
                password=self.orthanc_password,
                stable_age=self.stable_age,
                name=f"reading-center-{i}",
                index=self.index,
                storage=storage,
            )
            for i, (http, dicom) in enumerate(
                zip(self.ports.orthanc_http, self.ports.orthanc_dicom, strict=True), start=1
            )
        ]

    def plan(self) -> None:
        self.var.mkdir(parents=True, exist_ok=True)
        logs = self.var / "log"
        logs.mkdir(exist_ok=True)
        configs = self.orthanc_configs()
        urls = [c.url for c in configs]
        if self.redis_port:
            redis = shutil.which("redis-server") or "/usr/bin/redis-server"
            # Nothing on disk: the Channels layer holds only live hints, lost with the process.
            self._add("redis", [redis, "--port", str(self.redis_port), "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "no"], {})  # fmt: skip
            self.base_env["REDIS_URL"] = f"redis://127.0.0.1:{self.redis_port}/0"
        for i, config in enumerate(configs, start=1):
            config.write()
            self._add(f"orthanc-{i}", [orthanc_binary(), str(config.path)], {"TCP_NODELAY": "1"})
        for i in range(1, len(configs) + 1):
            own, others = urls[i - 1], [u for u in urls if u != urls[i - 1]]
            node = {
                "ORTHANC_URL": own,
                "ORTHANC_FALLBACK_URLS": ",".join(others),
                "ORTHANC_DICOM_PORT": str(self.ports.front_dicom),
                "ORTHANC_USERNAME": self.orthanc_username,
                "ORTHANC_PASSWORD": self.orthanc_password,
                "ORTHANC_STABLE_AGE": str(self.stable_age),
                "READINGCENTER_NODE": f"node-{i}",
            }
            port = str(self.ports.web[i - 1])
            daphne = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", port]
            self._add(f"web-{i}", [*daphne, "readingcenter.asgi:application"], node)
            worker = [*self.manage, "procrastinate", "worker", "--concurrency", "2"]
            self._add(f"worker-{i}", worker, node)
            self._add(f"follower-{i}", [*self.manage, "follow_orthanc"], node)
        self._add("front", [haproxy_binary(), "-db", "-f", str(self.write_front())], {})
        if self.hospital_command:
            self._add("hospital", self.hospital_command, {})

    def _add(self, name: str, command: list[str], env: dict[str, str]) -> None:
        log = self.var / "log" / f"{name}.log"
        self.parts[name] = Part(name, command, {**self.base_env, **env}, log)

    def write_front(self) -> Path:
        path = self.var / "front.cfg"
        path.write_text(front_config(self.ports), encoding="utf-8")
        return path

    # -- running --------------------------------------------------------------------------
    def start(self) -> None:
        first = ("redis", "orthanc")
        order = sorted(self.parts.values(), key=lambda p: not p.name.startswith(first))
        for part in order:
            part.start()
        self.write_state()

    def watch_once(self) -> list[str]:
        """Restart parts that died (after the backoff); returns the names restarted."""
        restarted = []
        now = time.monotonic()
        for part in self.parts.values():
            if part.alive:
                continue
            if part.died_at is None:
                part.died_at = now
                part.last_exit = part.process.returncode if part.process else None
                continue
            if now - part.died_at >= self.restart_backoff:
                part.restarts += 1
                part.start()
                restarted.append(part.name)
        if restarted:
            self.write_state()
        return restarted

    def write_state(self) -> None:
        state = {
            name: {
                "pid": part.process.pid if part.process else None,
                "restarts": part.restarts,
                "log": str(part.log),
            }
            for name, part in self.parts.items()
        }
        target = self.var / "parts.json"
        temporary = target.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, indent=2), encoding="utf-8")
        temporary.replace(target)

    def stop(self) -> None:
        for part in self.parts.values():
            if part.alive:
                _signal_group(part.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for part in self.parts.values():
            if part.process is None:
                continue
            try:
                part.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(part.process.pid, signal.SIGKILL)
                part.process.wait(5)


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it may have died on its own meanwhile
        os.killpg(pid, signum)


def haproxy_binary() -> str:
    path = shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
    )
    if not path:
        raise OrthancServerError(
            "haproxy is not installed: run `make setup` (it installs the Debian package haproxy, "
            "the cluster's front for HTTP, WebSockets and DICOM)"
        )
    return path


def front_config(ports: ClusterPorts) -> str:
    """haproxy: HTTP and WebSockets to the web nodes, DICOM associations to the Orthanc nodes.

    A node that fails its check (every second, twice) leaves the rotation; a request whose
    connection is refused is sent to the other node (redispatch). WebSockets are long-lived:
    ``timeout tunnel`` keeps them open, and a client whose web node dies reconnects through
    the front to the other one.
    """
    webs = "\n".join(
        f"    server web{i} 127.0.0.1:{port} check inter 1s fall 2 rise 1"
        for i, port in enumerate(ports.web, start=1)
    )
    orthancs = "\n".join(
        f"    server orthanc{i} 127.0.0.1:{port} check inter 1s fall 2 rise 1"
        for i, port in enumerate(ports.orthanc_dicom, start=1)
    )
    return f"""# Written by run_cluster: the reading center's front.
global
    maxconn 4096

defaults
    timeout connect 2s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
    retries 2
    option redispatch

frontend http
    mode http
    bind 127.0.0.1:{ports.front_http}
    option forwardfor
    default_backend web

backend web
    mode http
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
{webs}

frontend dicom
    mode tcp
    bind 127.0.0.1:{ports.front_dicom}
    default_backend orthanc

backend orthanc
    mode tcp
    balance leastconn
{orthancs}
"""
