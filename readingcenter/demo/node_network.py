"""Each node of the cluster on its own network: a Linux network namespace with its own address.

    host (the "outside": PostgreSQL, Redis, the hospitals' systems, the front)
      bridge rcc<pid>        10.213.N.1/24
        |-- node 1 (netns rcc<pid>-1)   eth0 10.213.N.11, lo
        `-- node 2 (netns rcc<pid>-2)   eth0 10.213.N.12, lo

A node sees the other nodes and the host on the bridge and nothing of the host's loopback, as
on a separate machine. The shared services (PostgreSQL, Redis, the hospitals' endpoints) keep
their loopback addresses in every setting: each node runs a small haproxy (its "link") that
listens on the node's loopback for those ports and forwards them to the host's bridge address,
where the front forwards them to the host's loopback. So a node is configured exactly as a node
on another machine would be, with the service's address replaced by the link.

Namespaces need root and iproute2; where they cannot be made, the cluster runs on loopback
ports and says why. The names carry the owner's pid, so that what a killed run left behind is
found and removed by the next one.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass

PREFIX = "rcc"
SUBNET = "10.213"


class NodeNetworkError(RuntimeError):
    pass


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    binary = shutil.which("ip") or "/usr/sbin/ip"
    done = subprocess.run([binary, *args], capture_output=True, text=True, timeout=20)
    if check and done.returncode != 0:
        raise NodeNetworkError(f"`ip {' '.join(args)}` failed: {done.stderr.strip()}")
    return done


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_abandoned() -> list[str]:
    """Delete the namespaces and bridges of clusters whose owner process is gone."""
    removed = []
    pattern = re.compile(rf"^{PREFIX}(\d+)(-\d+)?$")
    namespaces = _ip("netns", "list", check=False).stdout.split("\n")
    bridges = _ip("-o", "link", "show", "type", "bridge", check=False).stdout.split("\n")
    names = [line.split()[0] for line in namespaces if line.strip()]
    names += [line.split(":")[1].strip() for line in bridges if line.count(":") >= 2]
    for name in names:
        found = pattern.match(name)
        if not found or _alive(int(found.group(1))):
            continue
        if found.group(2):
            _ip("netns", "delete", name, check=False)
        else:
            _ip("link", "delete", name, check=False)
        removed.append(name)
    return removed


def _free_subnet() -> int:
    used = _ip("-o", "-4", "addr", "show", check=False).stdout
    for third in range(1 + os.getpid() % 200, 255):
        if f" {SUBNET}.{third}." not in used:
            return third
    raise NodeNetworkError(f"no free {SUBNET}.N.0/24 subnet for the nodes")


@dataclass
class NodeNetwork:
    """The bridge and one namespace per node. ``create`` makes them; ``destroy`` removes them."""

    nodes: int
    owner: int = 0  # the pid whose death makes them abandoned
    third: int = 0
    created: bool = False

    def __post_init__(self) -> None:
        self.owner = self.owner or os.getpid()

    @property
    def bridge(self) -> str:
        return f"{PREFIX}{self.owner}"

    def namespace(self, node: int) -> str:
        return f"{PREFIX}{self.owner}-{node}"

    @property
    def gateway(self) -> str:
        """The host's address on the bridge: where nodes reach the outside."""
        return f"{SUBNET}.{self.third}.1"

    def address(self, node: int) -> str:
        return f"{SUBNET}.{self.third}.{10 + node}"

    def create(self) -> None:
        if os.geteuid() != 0:
            raise NodeNetworkError("network namespaces need root")
        if not shutil.which("ip") and not os.path.exists("/usr/sbin/ip"):
            raise NodeNetworkError("iproute2's `ip` is not installed (`make setup` installs it)")
        remove_abandoned()
        self.third = _free_subnet()
        try:
            _ip("link", "add", self.bridge, "type", "bridge")
            self.created = True
            _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            for node in range(1, self.nodes + 1):
                self._add_node(node)
        except (NodeNetworkError, OSError, subprocess.SubprocessError):
            self.destroy()
            raise

    def _add_node(self, node: int) -> None:
        namespace, host_end = self.namespace(node), f"{self.bridge}h{node}"
        _ip("netns", "add", namespace)
        _ip("link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", namespace)
        _ip("link", "set", host_end, "master", self.bridge)
        _ip("link", "set", host_end, "up")
        inside = ("-n", namespace)
        _ip(*inside, "addr", "add", f"{self.address(node)}/24", "dev", "eth0")
        _ip(*inside, "link", "set", "eth0", "up")
        _ip(*inside, "link", "set", "lo", "up")

    def destroy(self) -> None:
        for node in range(1, self.nodes + 1):
            _ip("netns", "delete", self.namespace(node), check=False)  # takes its veth along
        if self.created:
            _ip("link", "delete", self.bridge, check=False)
            self.created = False

    def run_in(self, node: int, command: list[str]) -> list[str]:
        """The command, run inside the node's namespace (`ip netns exec` execs into it, so the
        pid the supervisor holds is the part's own)."""
        binary = shutil.which("ip") or "/usr/sbin/ip"
        return [binary, "netns", "exec", self.namespace(node), *command]

    def answers_on_gateway(self, port: int) -> bool:
        """Whether a host service already listens on the bridge (bound to all addresses): then
        the front must not take that port, and the node's link reaches it directly."""
        with contextlib.suppress(OSError), socket.create_connection((self.gateway, port), 0.5):
            return True
        return False
