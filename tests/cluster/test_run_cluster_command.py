"""`manage.py run_cluster` (make cluster) starts every part behind the front and stops them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from readingcenter.pacs.orthanc_server import free_port
from tests.cluster.test_faults import _database_url, _wait_up

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db(transaction=True)
def test_run_cluster_starts_every_part_behind_the_front_and_stops_them(tmp_path, orthanc_index):
    front, dicom = free_port(), free_port()
    nodes = ",".join(str(free_port()) for _ in range(6))
    env = {**os.environ, "DATABASE_URL": _database_url(), "ORTHANC_INDEX_URL": orthanc_index.url,
           "CHANNELS_PREFIX": f"run-cluster-{os.getpid()}"}  # fmt: skip
    command = [sys.executable, str(ROOT / "manage.py"), "run_cluster", "--no-send",
               "--no-demo-data", "--port", str(front), "--dicom-port", str(dicom),
               "--node-ports", nodes, "--hl7-port", str(free_port()),
               "--hl7-node-ports", f"{free_port()},{free_port()}",
               "--var", str(tmp_path / "cluster")]  # fmt: skip
    log = open(tmp_path / "run_cluster.log", "wb")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        try:
            _wait_up(f"http://127.0.0.1:{front}/healthz", timeout=90)
        except AssertionError as exc:
            raise AssertionError((tmp_path / "run_cluster.log").read_text()[-2000:]) from exc
        parts = json.loads((tmp_path / "cluster" / "parts.json").read_text())
        expected = {"orthanc-1", "orthanc-2", "web-1", "web-2", "worker-1", "worker-2",
                    "follower-1", "follower-2", "hl7-1", "hl7-2", "front"}  # fmt: skip
        assert expected <= set(parts)
        pids = [parts[name]["pid"] for name in expected]
        assert all(Path(f"/proc/{pid}").exists() for pid in pids)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(60)
    said = (tmp_path / "run_cluster.log").read_text()
    assert "PostgreSQL index" in said and "all stopped." in said
    assert "Network: each node in its own network namespace" in said or (
        "Network: loopback ports (network namespaces unavailable" in said
    )
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids), "a part outlived the cluster"
