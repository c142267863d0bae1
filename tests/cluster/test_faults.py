"""The cluster survives its parts dying: studies sent while parts are SIGKILLed arrive once,
and reports signed meanwhile reach the hospital once.

A real cluster (readingcenter.demo.cluster: 2 Orthanc nodes on one PostgreSQL index behind
haproxy, 2 web nodes, 2 workers, 2 followers, its own Redis), on the test database; each node
in its own network namespace where they can be made (FAULT_NETWORK=loopback to choose loopback
ports). While
studies are sent through the front's DICOM port, a chaos thread SIGKILLs a random part every
second or two and the supervisor restarts it. A hospital's sender retries an association
that fails, as a PACS does. Afterwards every study is there once, complete, with all its
files, and nothing was recorded twice.

Then two radiologists read and sign through the front (API tokens, retrying what the front
could not deliver while a web node restarts) while web nodes, workers, Redis and an Orthanc
node are killed: every case is read once, and each signed report reaches the hospital's HL7
engine exactly once.

`make test` runs a short version (FAULT_STUDIES, default 12, and half as many cases);
`make test-faults` sends 200 and reads 100.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
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
        front_hl7=free_port(),
        hl7=(free_port(), free_port()),
    )
    built = Cluster(
        var=tmp_path / "cluster",
        manage=[sys.executable, str(ROOT / "manage.py")],
        base_env=env,
        index=orthanc_index,
        ports=ports,
        stable_age=2,
        redis_port=free_port(),
        # The hospital's HL7 engine (started by the test that needs it): outside the nodes.
        outside_ports=(free_port(),),
        network=os.environ.get("FAULT_NETWORK", "auto"),
    )
    built.plan()
    print(f"\ncluster network: {built.network_said}")
    built.start()
    supervising = threading.Event()
    supervising.set()

    def supervise():
        while supervising.is_set():
            built.watch_once()
            time.sleep(0.1)

    supervisor = threading.Thread(target=supervise, daemon=True)
    supervisor.start()
    try:
        _wait_up(f"http://127.0.0.1:{ports.front_http}/healthz")
        yield built
    finally:
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
    kills, chaos, monkey = _chaos_monkey(cluster, VICTIMS, rng, pause=(0.8, 2.0))
    started = time.monotonic()
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


def _call(session: requests.Session, method: str, url: str, **kwargs) -> requests.Response:
    """One API call through the front, sent again while the part behind it is being restarted
    (502/503 from the front, a dropped connection). Every call below is safe to repeat."""
    for _ in range(60):
        try:
            answer = session.request(method, url, timeout=20, **kwargs)
        except requests.RequestException:
            time.sleep(0.5)
            continue
        if answer.status_code in (502, 503, 504):
            time.sleep(0.5)
            continue
        return answer
    raise AssertionError(f"{method} {url} never answered")


def _read_and_sign(base: str, key: str, password: str, done: list[int], errors: list[str]):
    """A radiologist's loop through the front: next case, draft, write, sign; until none."""
    from tests.reports.conftest import FILLED

    session = requests.Session()
    session.headers.update({"Authorization": f"Token {key}"})
    while True:
        answer = _call(session, "POST", f"{base}/api/v1/worklist/next/", json={})
        if answer.status_code == 204:
            return
        if answer.status_code != 200:
            errors.append(f"next: {answer.status_code} {answer.text[:200]}")
            return
        case = answer.json()["id"]
        draft = _call(session, "POST", f"{base}/api/v1/worklist/{case}/report/").json()
        for _ in range(5):  # a stale revision (our own earlier try got through) reads again
            findings = "\n".join(
                f"{line} {FILLED}" if line.rstrip().endswith(":") else line
                for line in draft["findings"].split("\n")
            )
            saved = _call(session, "PATCH", f"{base}/api/v1/reports/{draft['id']}/",
                          json={"revision": draft["revision"], "findings": findings,
                                "impression": "No acute abnormality."})  # fmt: skip
            if saved.status_code == 409 and saved.json().get("code") == "stale_revision":
                draft = _call(session, "GET", f"{base}/api/v1/reports/{draft['id']}/").json()
                continue
            break
        signed = _call(session, "POST", f"{base}/api/v1/reports/{draft['id']}/sign/",
                       json={"password": password, "kind": "final",
                             "critical_answers": []})  # fmt: skip
        if signed.status_code in (200, 201) or signed.json().get("code") == "report_signed":
            done.append(case)
        else:
            errors.append(f"sign {draft['id']}: {signed.status_code} {signed.text[:300]}")
            return


def _chaos_monkey(cluster, victims, rng, *, pause):
    """A thread that SIGKILLs a random victim every so often until the event is cleared."""
    kills: Counter[str] = Counter()
    chaos = threading.Event()
    chaos.set()

    def run():
        while chaos.is_set():
            time.sleep(rng.uniform(*pause))
            part = cluster.parts[rng.choice(victims)]
            if part.alive:
                os.kill(part.process.pid, signal.SIGKILL)
                kills[part.name] += 1

    monkey = threading.Thread(target=run, daemon=True)
    monkey.start()
    return kills, chaos, monkey


def _messages_per_accession(received: list[str], cases) -> Counter[str]:
    counts: Counter[str] = Counter()
    for message in received:
        for case in cases:
            if case.study.accession_number in message:
                counts[case.study.accession_number] += 1
    return counts


@pytest.mark.faults
@pytest.mark.django_db(transaction=True)
def test_readers_sign_and_reports_reach_the_hospital_once_while_parts_are_killed(
    cluster, hospital_a, radiologist
):
    from readingcenter.delivery.models import Delivery, DeliveryEndpoint
    from readingcenter.reports.models import Report
    from readingcenter.reports.services import report_templates_load
    from readingcenter.worklist.models import Case
    from simulator.hospital_systems import InterfaceEngine
    from tests.browser import server_password
    from tests.conftest import _user, api_as, grant
    from tests.factories import make_case

    report_templates_load()
    # The hospital's HL7 engine: ours to watch, not killed; outside the nodes, which reach it
    # on their loopback as the demo's endpoints are configured.
    engine = InterfaceEngine(port=cluster.outside_ports[0])
    DeliveryEndpoint.objects.create(hospital=hospital_a, channel="hl7", name="engine",
                                    host="127.0.0.1", port=engine.port)  # fmt: skip
    second = _user("dr.second", "radiologist")
    grant(second, hospital_a)
    readers = [radiologist, second]
    for reader in readers:
        server_password(reader, "correct-horse-battery")
    n_cases = max(4, STUDIES // 2)
    cases = [
        make_case(hospital_a, accession_number=f"FLT{i:04d}", modalities=["CT"],
                  body_part_examined="HEAD", study_description="CT HEAD")
        for i in range(n_cases)
    ]  # fmt: skip
    base = f"http://127.0.0.1:{cluster.ports.front_http}"
    rng = random.Random(int(os.environ.get("FAULT_SEED", "7")) + 1)
    victims = ["web-1", "web-2", "worker-1", "worker-2", "redis", "orthanc-1"]
    kills, chaos, monkey = _chaos_monkey(cluster, victims, rng, pause=(1.0, 2.5))
    done: list[int] = []
    errors: list[str] = []
    keys = [api_as(r, scopes=["reading"])._credentials["HTTP_AUTHORIZATION"].split()[1]
            for r in readers]  # fmt: skip
    workers = [
        threading.Thread(target=_read_and_sign,
                         args=(base, key, "correct-horse-battery", done, errors))
        for key in keys
    ]  # fmt: skip
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(300)
    chaos.clear()
    monkey.join(5)
    assert not errors, errors
    read_in = time.monotonic() - started

    signed = Report.objects.filter(case__in=cases, state="signed")
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if Delivery.objects.filter(report__in=signed, state="delivered").count() == len(cases):
            break
        time.sleep(1)
    delivered_in = time.monotonic() - started
    messages = _messages_per_accession(engine.received, cases)
    engine.stop()
    print(
        f"\nfaults while reading: {len(cases)} cases signed by {len(readers)} readers through the "
        f"front in {read_in:.1f}s, all delivered after {delivered_in:.0f}s (a drain a killed "
        f"worker held is retried after 30-90 s); kills {dict(kills)}; HL7 messages per report "
        f"{sorted(Counter(messages.values()).items())}"
    )
    assert sorted(set(done)) == sorted(c.pk for c in cases), "a case was not read"
    assert signed.count() == len(cases), "a case has no signed report, or two"
    readers_of = Case.objects.filter(pk__in=[c.pk for c in cases]).values_list(
        "claimed_by", flat=True
    )
    assert all(readers_of), "a signed case without its reader"
    assert Delivery.objects.filter(report__in=signed, state="delivered").count() == len(cases)
    assert all(messages[c.study.accession_number] == 1 for c in cases), messages


def _open_hint_socket(cluster, manager):
    from bench.worklist import WebSocket
    from tests.conftest import api_as

    key = api_as(manager)._credentials["HTTP_AUTHORIZATION"].split()[1]
    port = cluster.ports.front_http
    headers = {"Origin": f"http://127.0.0.1:{port}", "Authorization": f"Token {key}"}
    return lambda: WebSocket("127.0.0.1", port, "/ws/studies/", headers)


def _kill_and_wait_for_restart(cluster, name: str) -> None:
    part = cluster.parts[name]
    restarts = part.restarts
    os.kill(part.process.pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while not (part.alive and part.restarts > restarts) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert part.restarts == restarts + 1, f"{name} was not restarted"


def _hear_a_hint(cluster, socket_, connect) -> tuple[str | None, int]:
    """As the pages do: a closed socket is opened again; then a hint must arrive."""
    heard, reconnects = None, 0
    deadline = time.monotonic() + 60
    while heard is None and time.monotonic() < deadline:
        _send_study_hint(cluster)
        try:
            heard = socket_.receive_text(timeout=2)
        except TimeoutError:
            continue
        except (ConnectionError, OSError):
            socket_.close()
            try:
                socket_ = connect()
                reconnects += 1
            except (ConnectionError, OSError):
                time.sleep(0.5)
    socket_.close()
    return heard, reconnects


@pytest.mark.faults
@pytest.mark.django_db(transaction=True)
def test_a_live_update_socket_hears_hints_again_after_redis_returns(cluster, hospital_a, manager):
    """Redis holds the Channels groups and nothing on disk: a restarted Redis has forgotten who
    listens. A socket must not stay open and silent: it hears hints again (or is closed, so
    that its page reconnects)."""
    connect = _open_hint_socket(cluster, manager)
    socket_ = connect()
    _kill_and_wait_for_restart(cluster, "redis")
    heard, reconnects = _hear_a_hint(cluster, socket_, connect)
    print(f"\nafter Redis came back: {reconnects} reconnect(s), then heard {heard!r}")
    assert heard is not None and '"study"' in heard, "no hint reached the client after Redis"


@pytest.mark.faults
@pytest.mark.django_db(transaction=True)
def test_a_live_update_socket_hears_hints_again_after_its_web_node_dies(
    cluster, hospital_a, manager
):
    """The socket lives on one web node (the front chose which): kill both nodes in turn, so
    its own dies for certain; the page reconnects through the front to the live one."""
    connect = _open_hint_socket(cluster, manager)
    socket_ = connect()
    _kill_and_wait_for_restart(cluster, "web-1")
    _kill_and_wait_for_restart(cluster, "web-2")
    heard, reconnects = _hear_a_hint(cluster, socket_, connect)
    print(f"\nafter its web node died: {reconnects} reconnect(s), then heard {heard!r}")
    assert reconnects >= 1, "the socket outlived its web node: it was never closed"
    assert heard is not None and '"study"' in heard, "no hint reached the client after it"


def _send_study_hint(cluster) -> None:
    """A study hint through the cluster's own Redis, as the follower sends one."""
    subprocess.run(
        [*cluster.manage, "shell", "-c",
         "from readingcenter.studies.hints import send_study_changed;"
         "send_study_changed(0, 'complete', None)"],
        env=cluster.base_env, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
