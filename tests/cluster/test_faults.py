"""The cluster survives its parts dying: studies sent while parts are SIGKILLed arrive once.

A real cluster (readingcenter.demo.cluster: 2 Orthanc nodes on one PostgreSQL index behind
haproxy, 2 web nodes, 2 workers, 2 followers, its own Redis), on the test database. While
studies are sent through the front's DICOM port, a chaos thread SIGKILLs a random part every
second or two and the supervisor restarts it. A hospital's sender retries an association
that fails, as a PACS does. Afterwards every study is there once, complete, with all its
files, and nothing was recorded twice.

`make test` runs a short version (FAULT_STUDIES, default 12); `make test-faults` sends 200.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
from django.db import connection
from django.db.models import Count

from readingcenter.demo.cluster import Cluster, ClusterPorts
from readingcenter.pacs.orthanc_server import free_port
from readingcenter.studies.models import Study, StudyEvent
from tests.pacs.dicom_files import FLAIR, c_store, new_study

ROOT = Path(__file__).resolve().parents[2]
STUDIES = int(os.environ.get("FAULT_STUDIES", "12"))
# Sending is spread over this long, so that kills land before, during and after studies.
SECONDS = float(os.environ.get("FAULT_SECONDS", "20"))
SLICES = 4
VICTIMS = ["orthanc-1", "orthanc-2", "follower-1", "follower-2", "worker-1", "worker-2",
           "web-1", "web-2", "redis"]  # fmt: skip


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgresql://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def cluster(tmp_path, orthanc_index):
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "ORTHANC_STABLE_AGE": "2",
        "INGEST_POLL_INTERVAL": "0.1",
        "INGEST_SWEEP_INTERVAL": "3",
        "CHANNELS_PREFIX": f"faults-{os.getpid()}",
    }
    ports = ClusterPorts(
        front_http=free_port(),
        front_dicom=free_port(),
        web=(free_port(), free_port()),
        orthanc_http=(free_port(), free_port()),
        orthanc_dicom=(free_port(), free_port()),
    )
    built = Cluster(
        var=tmp_path / "cluster",
        manage=[sys.executable, str(ROOT / "manage.py")],
        base_env=env,
        index=orthanc_index,
        ports=ports,
        stable_age=2,
        redis_port=free_port(),
    )
    built.plan()
    built.start()
    supervising = threading.Event()
    supervising.set()

    def supervise():
        while supervising.is_set():
            built.watch_once()
            time.sleep(0.1)

    supervisor = threading.Thread(target=supervise, daemon=True)
    supervisor.start()
    _wait_up(f"http://127.0.0.1:{ports.front_http}/healthz")
    yield built
    supervising.clear()
    supervisor.join(5)
    built.stop()


def _wait_up(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} did not come up")


def _send_with_retries(files, port: int, tries: int = 20) -> int:
    """C-STORE a study through the front; a failed association is sent again. Returns retries."""
    for attempt in range(tries):
        try:
            c_store(files, port=port, calling_aet="ALPHA_CT")
            return attempt
        except AssertionError:  # storescu failed: the node died under it, or none was up
            time.sleep(0.5)
    raise AssertionError(f"could not send {files[0].parent} in {tries} tries")


@pytest.mark.faults
@pytest.mark.django_db(transaction=True)
def test_studies_sent_while_parts_are_killed_arrive_once_and_complete(
    cluster, hospital_a, tmp_path
):
    rng = random.Random(int(os.environ.get("FAULT_SEED", "7")))
    studies = [new_study(FLAIR[:SLICES], tmp_path / f"s{i}") for i in range(STUDIES)]
    kills: Counter[str] = Counter()
    chaos = threading.Event()
    chaos.set()

    def chaos_monkey():
        while chaos.is_set():
            time.sleep(rng.uniform(0.8, 2.0))
            name = rng.choice(VICTIMS)
            part = cluster.parts[name]
            if part.alive:
                os.kill(part.process.pid, signal.SIGKILL)
                kills[name] += 1

    monkey = threading.Thread(target=chaos_monkey, daemon=True)
    started = time.monotonic()
    monkey.start()
    retries = 0
    try:
        for _uid, files in studies:
            # Two associations per study: the front may give each half to another node.
            half = len(files) // 2
            retries += _send_with_retries(files[:half], cluster.ports.front_dicom)
            retries += _send_with_retries(files[half:], cluster.ports.front_dicom)
            time.sleep(max(0.0, SECONDS / STUDIES - 0.1))
    finally:
        chaos.clear()
        monkey.join(5)
    sent_in = time.monotonic() - started

    uids = [uid for uid, _ in studies]
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        done = Study.objects.filter(
            study_instance_uid__in=uids, status="complete", instance_count=SLICES
        ).count()
        if done == len(uids):
            break
        time.sleep(0.5)
    settled_in = time.monotonic() - started
    restarts = {name: part.restarts for name, part in cluster.parts.items() if part.restarts}
    print(
        f"\nfaults: {len(uids)} studies x {SLICES} instances sent in {sent_in:.1f}s with "
        f"{retries} resent associations; kills {dict(kills)}; restarts {restarts}; "
        f"all complete after {settled_in:.1f}s"
    )

    ours = Study.objects.filter(study_instance_uid__in=uids)
    twice = ours.values("study_instance_uid").annotate(n=Count("id")).filter(n__gt=1)
    assert not twice, f"studies recorded twice: {list(twice)}"
    assert ours.count() == len(uids), "lost studies"
    incomplete = ours.exclude(status="complete") | ours.exclude(instance_count=SLICES)
    assert not incomplete.exists(), list(incomplete.values("status", "instance_count"))
    received = StudyEvent.objects.filter(study__in=ours, kind="received")
    assert received.count() == len(uids)
    assert sum(kills.values()) >= 1, "the chaos thread killed nothing: the test proved nothing"
