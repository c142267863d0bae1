"""A reading-center cluster on one machine: every part twice, behind one front, supervised.

    front (haproxy)   HTTP :8000 -> web-1, web-2 (daphne; WebSockets pass through)
                      DICOM :4242 -> orthanc-1, orthanc-2 (TCP, least connections)
                      HL7 (MLLP) :2576 -> hl7-1, hl7-2 (the order listeners)
    orthanc-1, -2     one PostgreSQL index, one storage folder (any node serves any file)
    web-i, worker-i,  each talks to orthanc-i first and to the other node when its own is
    follower-i        down (ORTHANC_FALLBACK_URLS); all share PostgreSQL and Redis
    hospital          the demo hospitals' PACS, HL7 engine and FHIR server

The supervisor restarts any part that dies (SIGKILL included), after a short backoff, and
keeps ``var/cluster/parts.json`` (part -> pid, restarts) current, so that fault tests and an
operator can see and kill parts by name.

Where network namespaces can be made (root, iproute2), node i (orthanc-i, web-i, worker-i,
follower-i and its link) runs in its own namespace with its own address, as on its own
machine (readingcenter.demo.node_network); elsewhere every part runs on loopback ports, and
the cluster says which it chose.
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

from readingcenter.demo.node_network import NodeNetwork, NodeNetworkError
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
    front_hl7: int = 2576
    hl7: tuple[int, ...] = (2581, 2582)

    def all(self) -> list[int]:
        return [
            self.front_http,
            self.front_dicom,
            self.front_hl7,
            *self.web,
            *self.orthanc_http,
            *self.orthanc_dicom,
            *self.hl7,
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
    # "namespaces": each node on its own network (an error where that cannot be made);
    # "loopback": all on this machine's loopback; "auto": namespaces where possible.
    network: str = "auto"
    # Ports of services outside the nodes that the nodes reach on 127.0.0.1 (the hospitals'
    # systems, for instance); PostgreSQL's and Redis's are added from the settings.
    outside_ports: tuple[int, ...] = ()
    parts: dict[str, Part] = field(default_factory=dict)
    node_network: NodeNetwork | None = None
    network_said: str = ""

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
                # On their own networks the nodes reach each other's REST API over the bridge
                # (a node whose Orthanc died falls back to the other's): not loopback, so
                # remote access is on, behind the same credentials.
                extra={"RemoteAccessAllowed": True} if self.node_network else {},
            )
            for i, (http, dicom) in enumerate(
                zip(self.ports.orthanc_http, self.ports.orthanc_dicom, strict=True), start=1
            )
        ]

    def plan(self) -> None:
        self.var.mkdir(parents=True, exist_ok=True)
        logs = self.var / "log"
        logs.mkdir(exist_ok=True)
        self.orthanc_configs()  # says what is missing before anything is made
        self._plan_network(len(self.ports.orthanc_http))
        configs = self.orthanc_configs()
        if self.redis_port:
            redis = shutil.which("redis-server") or "/usr/bin/redis-server"
            # Nothing on disk: the Channels layer holds only live hints, lost with the process.
            # Loopback only (Redis's protected mode): the nodes reach it through the front.
            self._add("redis", [redis, "--port", str(self.redis_port), "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "no"], {})  # fmt: skip
            self.base_env["REDIS_URL"] = f"redis://127.0.0.1:{self.redis_port}/0"
        if self.node_network:
            for i in range(1, len(configs) + 1):
                self._add_node(i, f"link-{i}", [haproxy_binary(), "-db", "-f",
                                                str(self.write_link(i))], {})  # fmt: skip
        for i, config in enumerate(configs, start=1):
            config.write()
            self._add_node(i, f"orthanc-{i}", [orthanc_binary(), str(config.path)],
                           {"TCP_NODELAY": "1"})  # fmt: skip
        for i, config in enumerate(configs, start=1):
            # A node's own Orthanc is on its loopback; the others at their nodes' addresses.
            own = config.url
            others = [f"http://{self.node_host(j)}:{c.http_port}"
                      for j, c in enumerate(configs, start=1) if j != i]  # fmt: skip
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
            daphne = [sys.executable, "-m", "daphne", "-b", self.node_host(i), "-p", port]
            self._add_node(i, f"web-{i}", [*daphne, "readingcenter.asgi:application"], node)
            worker = [*self.manage, "procrastinate", "worker", "--concurrency", "2"]
            self._add_node(i, f"worker-{i}", worker, node)
            self._add_node(i, f"follower-{i}", [*self.manage, "follow_orthanc"], node)
            listener = [*self.manage, "run_hl7_listener", "--host", self.node_host(i),
                        "--port", str(self.ports.hl7[i - 1])]  # fmt: skip
            self._add_node(i, f"hl7-{i}", listener, node)
        self._add("front", [haproxy_binary(), "-db", "-f", str(self.write_front())], {})
        if self.hospital_command:
            self._add("hospital", self.hospital_command, {})

    def _plan_network(self, nodes: int) -> None:
        if self.network == "loopback":
            self.network_said = "loopback ports (asked for)"
            return
        network = NodeNetwork(nodes)
        try:
            self._check_services_local()
            network.create()
        except NodeNetworkError as exc:
            if self.network == "namespaces":
                raise ClusterError(f"cannot give each node its own network: {exc}") from exc
            self.network_said = f"loopback ports (network namespaces unavailable: {exc})"
            return
        self.node_network = network
        addresses = ", ".join(f"node-{i} {network.address(i)}" for i in range(1, nodes + 1))
        self.network_said = (
            f"each node in its own network namespace ({addresses}; the host is "
            f"{network.gateway} on bridge {network.bridge})"
        )

    def _check_services_local(self) -> None:
        from urllib.parse import urlsplit

        for name in ("DATABASE_URL", "REDIS_URL"):
            host = urlsplit(self.base_env.get(name, "")).hostname
            if host not in (None, "127.0.0.1", "localhost", "::1"):
                raise NodeNetworkError(
                    f"{name} points at {host}: the nodes reach only services on this machine"
                )

    def node_host(self, node: int) -> str:
        """Where the others reach a node: its own address, or this machine's loopback."""
        return self.node_network.address(node) if self.node_network else "127.0.0.1"

    def shared_ports(self) -> list[int]:
        """The outside services' ports each node reaches on its own loopback (through its link)."""
        from urllib.parse import urlsplit

        ports = [self.index.port] if self.index else []
        for name, default in (("DATABASE_URL", 5432), ("REDIS_URL", 6379)):
            if self.base_env.get(name):
                ports.append(urlsplit(self.base_env[name]).port or default)
        if self.redis_port:
            ports.append(self.redis_port)
        return sorted(set(ports) | set(self.outside_ports))

    def _add(self, name: str, command: list[str], env: dict[str, str]) -> None:
        log = self.var / "log" / f"{name}.log"
        self.parts[name] = Part(name, command, {**self.base_env, **env}, log)

    def _add_node(self, node: int, name: str, command: list[str], env: dict[str, str]) -> None:
        if self.node_network:
            command = self.node_network.run_in(node, command)
        self._add(name, command, env)

    def write_front(self) -> Path:
        forwards: list[int] = []
        if self.node_network:
            # Ports the host serves on its loopback only: the front carries them to the bridge.
            forwards = [p for p in self.shared_ports()
                        if not self.node_network.answers_on_gateway(p)]  # fmt: skip
        path = self.var / "front.cfg"
        path.write_text(
            front_config(
                self.ports,
                nodes=[self.node_host(i) for i in range(1, len(self.ports.web) + 1)],
                gateway=self.node_network.gateway if self.node_network else None,
                forwards=forwards,
            ),
            encoding="utf-8",
        )
        return path

    def write_link(self, node: int) -> Path:
        path = self.var / f"link-{node}.cfg"
        path.write_text(
            link_config(self.shared_ports(), self.node_network.gateway), encoding="utf-8"
        )
        return path

    # -- running --------------------------------------------------------------------------
    def start(self) -> None:
        first = ("redis", "link", "front", "orthanc")
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
        if self.node_network:
            self.node_network.destroy()


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


def _servers(kind: str, nodes: list[str], ports) -> str:
    """One checked server line per node: out of the rotation after two failed checks."""
    return "\n".join(
        f"    server {kind}{i} {host}:{port} check inter 1s fall 2 rise 1"
        for i, (host, port) in enumerate(zip(nodes, ports, strict=True), start=1)
    )


def _tcp_balanced(name: str, port: int, servers: str) -> str:
    """A TCP front on this machine's loopback, to the node with the fewest connections."""
    return f"""
frontend {name}
    mode tcp
    bind 127.0.0.1:{port}
    default_backend {name}

backend {name}
    mode tcp
    balance leastconn
{servers}
"""


def _relay(name: str, bind: str, target: str, port: int) -> str:
    """A plain TCP relay: ``bind``:port to ``target``:port."""
    return f"""
listen {name}-{port}
    mode tcp
    bind {bind}:{port}
    server relay {target}:{port}
"""


def front_config(
    ports: ClusterPorts,
    nodes: list[str] | None = None,
    gateway: str | None = None,
    forwards: list[int] = (),
) -> str:
    """haproxy: HTTP and WebSockets to the web nodes, DICOM associations to the Orthanc nodes,
    HL7 connections to the nodes' listeners; with ``gateway``, the host's loopback services
    carried onto the nodes' bridge (``forwards``).

    A node that fails its check (every second, twice) leaves the rotation; a request whose
    connection is refused is sent to the other node (redispatch). WebSockets are long-lived:
    ``timeout tunnel`` keeps them open, and a client whose web node dies reconnects through
    the front to the other one.
    """
    nodes = nodes or ["127.0.0.1"] * len(ports.web)
    dicom = _tcp_balanced(
        "dicom", ports.front_dicom, _servers("orthanc", nodes, ports.orthanc_dicom)
    )
    hl7 = _tcp_balanced("hl7", ports.front_hl7, _servers("hl7", nodes, ports.hl7))
    outside = "".join(_relay("outside", gateway, "127.0.0.1", port) for port in forwards)
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
    option httpchk
    # Django answers only hosts it knows: the check names this machine, not the node's address.
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host 127.0.0.1
    http-check expect status 200
{_servers("web", nodes, ports.web)}
{dicom}{hl7}{outside}"""


def link_config(ports: list[int], gateway: str) -> str:
    """haproxy inside a node: the outside services on the node's loopback, as on a machine
    whose settings name them at 127.0.0.1 (PostgreSQL, Redis, the hospitals' systems)."""
    listens = "".join(_relay("service", "127.0.0.1", gateway, port) for port in ports)
    return f"""# Written by run_cluster: this node's link to the services outside it.
global
    maxconn 4096

defaults
    timeout connect 2s
    timeout client 1h
    timeout server 1h
{listens}"""
