#!/usr/bin/env python
"""Worklist benchmark: the radiologist's first page, "next case" under contention, live hints.

With 100,000 studies in a scratch database (30 hospitals, a realistic mix of priorities and
states: most already signed, a few thousand open), it measures, each against a baseline
measured in the same run:

1. a radiologist's first worklist page through the whole Django/DRF stack (authentication,
   privileges, serialisation, the audit row), p50/p95 server time, against the bare SQL query
   that returns the same 50 rows;
2. "next case" through the API with 20 radiologists pressing concurrently, p50/p95, against
   the bare SQL claim (SELECT ... FOR UPDATE SKIP LOCKED + UPDATE) with 20 concurrent
   connections;
3. the time from a claim's commit to a WebSocket client (a real socket to daphne) receiving
   the hint;
4. the DICOMweb proxy's throughput for a CT series against Orthanc directly (bench/dicomweb.py).

    .venv/bin/python bench/worklist.py --studies 100000
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import bar_chart, prepare_database  # noqa: E402

DB_NAME = "readingcenter_bench_worklist"
PAGE_SQL = """
    select c.id from worklist_case c
    where c.state in ('unread', 'claimed', 'in_report')
      and c.hospital_id in (
        select p.hospital_id from accounts_privilege p
        where p.radiologist_id = %(user)s and p.valid_from <= current_date
          and p.revoked_at is null and (p.valid_until is null or p.valid_until >= current_date))
    order by c.priority_rank, c.due_at, c.ai_score desc, c.arrived_at, c.id
    limit 50
"""
CLAIM_SQL = """
    select c.id from worklist_case c
    where c.state = 'unread'
      and c.hospital_id in (
        select p.hospital_id from accounts_privilege p
        where p.radiologist_id = %(user)s and p.valid_from <= current_date
          and p.revoked_at is null and (p.valid_until is null or p.valid_until >= current_date))
    order by c.priority_rank, c.due_at, c.ai_score desc, c.arrived_at, c.id
    limit 1 for update skip locked
"""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def progress(done: int, total: int, label: str) -> None:
    """A bar redrawn in place on a terminal; every tenth in a log (CI has no terminal)."""
    width = 30
    filled = round(width * done / total)
    line = f"  {label} [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,}"
    if sys.stderr.isatty():
        print(line, end="\n" if done == total else "\r", file=sys.stderr, flush=True)
    elif done == total or done % max(1, total // 10) == 0:
        print(line, file=sys.stderr, flush=True)


# -- the data -------------------------------------------------------------------------------------


def populate(n_studies: int, n_hospitals: int, n_readers: int, seed: int):
    import datetime as dt

    from django.db import connection
    from django.utils import timezone

    from readingcenter.accounts.models import Privilege, RadiologistProfile, Role, User
    from readingcenter.hospitals.models import Hospital, HospitalAETitle
    from readingcenter.sla.selectors import default_target
    from readingcenter.studies.models import Priority, Study
    from readingcenter.worklist.models import Case

    rng = random.Random(seed)
    now = timezone.now()
    hospitals = Hospital.objects.bulk_create(
        [
            Hospital(name=f"Hospital {i:02d}", code=f"h{i:02d}", time_zone="Asia/Seoul")
            for i in range(n_hospitals)
        ]
    )
    HospitalAETitle.objects.bulk_create(
        [HospitalAETitle(hospital=h, ae_title=f"H{i:02d}_CT") for i, h in enumerate(hospitals)]
    )
    readers = []
    for i in range(n_readers):
        user = User(username=f"reader{i:02d}", role=Role.RADIOLOGIST, first_name=f"R{i}")
        user.set_unusable_password()
        readers.append(user)
    readers = User.objects.bulk_create(readers)
    RadiologistProfile.objects.bulk_create([RadiologistProfile(user=u) for u in readers])
    today = now.date()
    privileges = []
    for user in readers:
        # Each reader is credentialed at a third of the hospitals, as teleradiologists are.
        for hospital in rng.sample(hospitals, k=max(1, n_hospitals // 3)):
            privileges.append(
                Privilege(
                    radiologist=user,
                    hospital=hospital,
                    valid_from=today - dt.timedelta(days=300),
                    valid_until=today + dt.timedelta(days=rng.randint(1, 700)),
                )
            )
    Privilege.objects.bulk_create(privileges)

    modalities = [
        ("CT", "HEAD", "neuro"),
        ("CT", "CHEST", "chest"),
        ("CR", "CHEST", "chest"),
        ("MR", "BRAIN", "neuro"),
        ("CT", "ABDOMEN", "body"),
        ("DX", "KNEE", "msk"),
    ]
    priorities = [Priority.STAT] * 5 + [Priority.URGENT] * 20 + [Priority.ROUTINE] * 75
    batch = 5000
    say(f"==> {n_studies:,} studies with their cases")
    for start in range(0, n_studies, batch):
        studies, metas = [], []
        for n in range(start, min(n_studies, start + batch)):
            modality, body, sub = rng.choice(modalities)
            hospital = rng.choice(hospitals)
            priority = rng.choice(priorities)
            roll = rng.random()
            # ~95 % signed history over the last 90 days, ~5 % open (most recent).
            if roll < 0.95:
                state, age_min = "signed", rng.uniform(60, 90 * 24 * 60)
            elif roll < 0.98:
                state, age_min = "unread", rng.uniform(1, 24 * 60)
            elif roll < 0.995:
                state, age_min = "claimed", rng.uniform(1, 12 * 60)
            else:
                state, age_min = "in_report", rng.uniform(1, 12 * 60)
            completed = now - dt.timedelta(minutes=age_min)
            studies.append(
                Study(
                    study_instance_uid=f"1.2.826.0.1.3680043.10.777.{n}",
                    orthanc_id=f"bench-{n:09d}",
                    hospital=hospital,
                    status="complete",
                    patient_name=f"Patient^{n}",
                    patient_id=f"P{n % 40000}",
                    accession_number=f"A{n:09d}",
                    modalities=[modality],
                    body_part_examined=body,
                    study_description=f"{modality} {body}",
                    priority=priority,
                    completed_at=completed,
                    version=1,
                )
            )
            metas.append((hospital, priority, state, completed, modality, body, sub))
        studies = Study.objects.bulk_create(studies)
        cases = []
        for study, (hospital, priority, state, completed, modality, body, sub) in zip(
            studies, metas, strict=True
        ):
            target = default_target(priority)
            reader = rng.choice(readers) if state in ("claimed", "in_report") else None
            cases.append(
                Case(
                    study=study,
                    hospital=hospital,
                    state=state,
                    priority=priority,
                    priority_rank=Priority.rank(priority),
                    arrived_at=completed,
                    due_at=target.deadline(completed),
                    at_risk_at=target.at_risk_from(completed),
                    ai_score=round(rng.random(), 3) if rng.random() < 0.4 else 0.0,
                    ai_flagged=rng.random() < 0.05,
                    modality=modality,
                    modalities=[modality],
                    body_part=body,
                    subspecialty=sub,
                    claimed_by=reader,
                    claimed_at=completed if reader else None,
                    last_activity_at=now if reader else None,
                    signed_at=completed + dt.timedelta(minutes=30) if state == "signed" else None,
                )
            )
        Case.objects.bulk_create(cases)
        progress(min(n_studies, start + batch), n_studies, "studies")
    with connection.cursor() as cursor:
        cursor.execute("vacuum analyze")
    open_cases = Case.objects.filter(state__in=["unread", "claimed", "in_report"]).count()
    say(f"    {open_cases:,} open cases across {n_hospitals} hospitals, {n_readers} readers")
    return readers


# -- 1. the first page ----------------------------------------------------------------------------


def reader_token(user) -> str:
    """A key for a reader's tool (scope "reading"), as a manager would make it."""
    from readingcenter.accounts.services import api_token_create

    _, key = api_token_create(user, name="bench", scopes=["reading"], days=1, actor="system:bench")
    return key


def token_client(user):
    from rest_framework.test import APIClient

    client = APIClient(HTTP_HOST="localhost")
    client.credentials(HTTP_AUTHORIZATION=f"Token {reader_token(user)}")
    return client


def bench_first_page(readers, repeat: int, database_url: str) -> dict:
    import psycopg

    api_ms, sql_ms = [], []
    with psycopg.connect(database_url) as conn:
        for i in range(repeat):
            user = readers[i % len(readers)]
            client = token_client(user)
            t0 = time.perf_counter()
            response = client.get("/api/v1/worklist/")
            api_ms.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200, response.content[:300]
            ids = [row["id"] for row in response.json()["results"]]
            t0 = time.perf_counter()
            bare = [row[0] for row in conn.execute(PAGE_SQL, {"user": user.pk}).fetchall()]
            sql_ms.append((time.perf_counter() - t0) * 1000)
            assert bare == ids, "the bare query must return the same rows"
            progress(i + 1, repeat, "first page")
    return {"api": api_ms, "sql": sql_ms}


# -- 2. next case under contention ----------------------------------------------------------------


def bench_next_case(readers, per_reader: int, database_url: str) -> dict:
    import psycopg
    from django.db import connection

    from readingcenter.worklist.models import Case

    def run_api(user, out, barrier):
        try:
            client = token_client(user)
            barrier.wait()
            for _ in range(per_reader):
                t0 = time.perf_counter()
                response = client.post("/api/v1/worklist/next/")
                out.append((time.perf_counter() - t0) * 1000)
                assert response.status_code in (200, 204)
        finally:
            connection.close()

    def run_sql(user, out, barrier, claimed):
        with psycopg.connect(database_url) as conn:
            barrier.wait()
            for _ in range(per_reader):
                t0 = time.perf_counter()
                with conn.transaction():
                    row = conn.execute(CLAIM_SQL, {"user": user.pk}).fetchone()
                    if row:
                        conn.execute(
                            "update worklist_case set state = 'claimed', claimed_by_id = %s, "
                            "claimed_at = now(), last_activity_at = now() where id = %s",
                            (user.pk, row[0]),
                        )
                        claimed.append(row[0])
                out.append((time.perf_counter() - t0) * 1000)

    def race(target, *extra):
        out, threads = [], []
        barrier = threading.Barrier(len(readers))
        for user in readers:
            threads.append(threading.Thread(target=target, args=(user, out, barrier, *extra)))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return out

    before = set(Case.objects.filter(state="claimed").values_list("id", flat=True))
    api = race(run_api)
    handed = set(Case.objects.filter(state="claimed").values_list("id", flat=True)) - before
    say(f"    next case (API): {len(api)} presses, {len(handed)} distinct cases handed out")
    # Give them back, so the bare run claims from the same pool.
    Case.objects.filter(id__in=handed).update(state="unread", claimed_by=None, claimed_at=None)
    claimed: list[int] = []
    sql = race(run_sql, claimed)
    assert len(claimed) == len(set(claimed)), "bare SQL handed a case out twice"
    Case.objects.filter(id__in=claimed).update(state="unread", claimed_by=None, claimed_at=None)
    return {"api": api, "sql": sql}


# -- 3. claim commit to WebSocket hint ------------------------------------------------------------


class WebSocket:
    """Just enough of RFC 6455 to read a server's text frames (the benchmark's own client)."""

    def __init__(self, host: str, port: int, path: str, headers: dict[str, str]):
        self.sock = socket.create_connection((host, port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *(f"{k}: {v}" for k, v in headers.items()),
            "",
            "",
        ]
        self.sock.sendall("\r\n".join(lines).encode())
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("the server closed the socket during the handshake")
            reply += chunk
        head, self.buffer = reply.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise ConnectionError(head.decode(errors="replace"))

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def receive_text(self, timeout: float) -> str:
        self.sock.settimeout(timeout)
        first, second = self._read(2)
        length = second & 0x7F
        if length == 126:
            length = int.from_bytes(self._read(2), "big")
        elif length == 127:
            length = int.from_bytes(self._read(8), "big")
        payload = self._read(length)
        if first & 0x0F == 0x8:
            raise ConnectionError("closed by the server")
        return payload.decode()

    def close(self) -> None:
        self.sock.close()


def bench_hint_latency(readers, env: dict, count: int) -> list[float]:
    import json

    from django.db import transaction

    from readingcenter.studies import hints
    from readingcenter.worklist import services
    from readingcenter.worklist.models import Case

    port = free_tcp_port()
    daphne = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/daphne"),
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "readingcenter.asgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port)
        reader = readers[0]
        ws = WebSocket(
            "127.0.0.1",
            port,
            "/ws/worklist/",
            {
                "Origin": f"http://127.0.0.1:{port}",
                "Authorization": f"Token {reader_token(reader)}",
            },
        )
        time.sleep(0.5)  # let the consumer join its groups
        hospitals = list(
            reader.privileges.values_list("hospital_id", flat=True)  # his hospitals' cases
        )
        candidates = list(
            Case.objects.filter(state="unread", hospital_id__in=hospitals).values_list(
                "id", flat=True
            )[:count]
        )
        latencies = []
        for i, case_id in enumerate(candidates):
            with transaction.atomic():
                services.case_claim(case_id=case_id, user=reader)
            committed = time.perf_counter()
            while True:
                message = json.loads(ws.receive_text(timeout=5))
                if message.get("id") == case_id and message.get("state") == "claimed":
                    break
            latencies.append((time.perf_counter() - committed) * 1000)
            services.case_release(case_id=case_id, user=reader)
            hints.drain()
            try:  # the release's hint, so the next measurement starts clean
                while True:
                    ws.receive_text(timeout=0.05)
            except TimeoutError:
                pass
            progress(i + 1, len(candidates), "claim to hint")
        ws.close()
        return latencies
    finally:
        daphne.terminate()
        daphne.wait(10)


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port} after {timeout} s")


# -- main -----------------------------------------------------------------------------------------


def report(title: str, api: list[float], sql: list[float], goal: str) -> dict:
    row = {
        "p50": statistics.median(api),
        "p95": pct(api, 95),
        "sql_p50": statistics.median(sql),
        "sql_p95": pct(sql, 95),
    }
    row["ratio_p95"] = row["p95"] / row["sql_p95"] if row["sql_p95"] else float("inf")
    print(f"\n{title}")
    print(f"  ours      p50 {row['p50']:7.2f} ms   p95 {row['p95']:7.2f} ms")
    print(f"  bare SQL  p50 {row['sql_p50']:7.2f} ms   p95 {row['sql_p95']:7.2f} ms")
    print(f"  ratio (p95 ours / p95 bare) {row['ratio_p95']:.2f}x   goal: {goal}")
    print(bar_chart([("ours p95", row["p95"]), ("bare SQL p95", row["sql_p95"])], "ms"))
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=100_000)
    parser.add_argument("--hospitals", type=int, default=30)
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=200, help="first-page requests")
    parser.add_argument("--next-per-reader", type=int, default=15)
    parser.add_argument("--hints", type=int, default=50)
    parser.add_argument("--proxy-slices", type=int, default=120)
    parser.add_argument("--skip-proxy", action="store_true")
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()

    base = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/readingcenter")
    database_url = prepare_database(base, DB_NAME)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CHANNELS_PREFIX": f"bench-worklist-{os.getpid()}",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    os.environ.update(env)
    say(f"==> migrating a scratch database ({DB_NAME})")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "readingcenter.settings")
    import django

    django.setup()
    t0 = time.perf_counter()
    readers = populate(args.studies, args.hospitals, args.readers, args.seed)
    say(f"    populated in {time.perf_counter() - t0:.0f} s")
    import gc

    gc.collect()
    gc.freeze()  # as readingcenter/asgi.py does at server start-up

    print(
        f"Worklist benchmark: {args.studies:,} studies, {args.hospitals} hospitals, "
        f"{args.readers} radiologists, {os.cpu_count()} CPU cores"
    )
    say("==> 1. first worklist page")
    bench_first_page(readers, 20, database_url)  # warm-up: connections, caches, plans
    page = bench_first_page(readers, args.repeat, database_url)
    results = {
        "page": report(
            "First worklist page (GET /api/v1/worklist/, 50 rows)",
            page["api"],
            page["sql"],
            "p95 < 30 ms and < 3x bare",
        ),
    }
    say(f"==> 2. next case, {len(readers)} radiologists at once")
    nxt = bench_next_case(readers, args.next_per_reader, database_url)
    results["next"] = report(
        f"Next case (POST /api/v1/worklist/next/, {len(readers)} concurrent)",
        nxt["api"],
        nxt["sql"],
        "p95 < 30 ms and < 3x bare",
    )
    say("==> 3. claim commit to WebSocket hint (daphne, Redis)")
    hint = bench_hint_latency(readers, env, args.hints)
    print("\nClaim commit to WebSocket hint received (daphne + Redis channel layer)")
    print(
        f"  p50 {statistics.median(hint):.1f} ms   p95 {pct(hint, 95):.1f} ms   "
        f"max {max(hint):.1f} ms   goal: p95 < 100 ms"
    )
    if not args.skip_proxy:
        say("==> 4. DICOMweb proxy throughput")
        # Its own scratch database and Orthanc: the 100,000 studies above play no part in it.
        subprocess.run(
            [sys.executable, str(ROOT / "bench" / "dicomweb.py"), "--slices",
             str(args.proxy_slices)],
            check=True,
        )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
