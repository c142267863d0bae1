"""Each cluster node on its own network: a namespace that sees the bridge and not the host's
loopback, removed at the end, and what a killed owner left behind removed by the next start.

Needs root and iproute2 (this machine and CI have both); elsewhere the cluster runs on loopback
ports, and these tests are skipped with the reason.
"""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from readingcenter.demo.node_network import NodeNetwork, NodeNetworkError, remove_abandoned


def _made(network: NodeNetwork) -> NodeNetwork:
    try:
        network.create()
    except NodeNetworkError as exc:
        pytest.skip(f"network namespaces cannot be made here: {exc}")
    return network


def _connects_from(network: NodeNetwork, node: int, host: str, port: int) -> bool:
    probe = (
        "import socket,sys\n"
        f"try: socket.create_connection(({host!r}, {port}), 2).close()\n"
        "except OSError: sys.exit(1)\n"
    )
    done = subprocess.run(network.run_in(node, [sys.executable, "-c", probe]), timeout=30)
    return done.returncode == 0


def _namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def test_a_node_reaches_the_bridge_and_not_the_hosts_loopback():
    network = _made(NodeNetwork(2))
    listener = socket.create_server(("0.0.0.0", 0))  # noqa: S104 - the host side of the bridge
    port = listener.getsockname()[1]
    try:
        assert _connects_from(network, 1, network.gateway, port)
        assert not _connects_from(network, 1, "127.0.0.1", port), "the host's loopback leaked"
        answer = subprocess.run(network.run_in(2, ["ip", "-4", "-o", "addr", "show", "eth0"]),
                                capture_output=True, text=True, check=True)  # fmt: skip
        assert network.address(2) in answer.stdout
    finally:
        listener.close()
        network.destroy()
    assert network.namespace(1) not in _namespaces()


def test_what_a_killed_owner_left_behind_is_removed_by_the_next_start():
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = _made(NodeNetwork(1, owner=dead.pid))  # as if that run had been SIGKILLed
    assert left.namespace(1) in _namespaces()
    removed = remove_abandoned()
    assert left.namespace(1) in removed and left.bridge in removed
    assert left.namespace(1) not in _namespaces()
