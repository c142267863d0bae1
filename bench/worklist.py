#!/usr/bin/env python
"""Worklist benchmark: the radiologist's first page, "next case", live hints.

With N studies in a scratch database (30 hospitals, a realistic mix of priorities and
states: ~95 % signed, ~5 % open; filled in SQL, so a million take minutes), it measures, each
against a baseline measured in the same run:

1. a radiologist's first worklist page through the whole Django/DRF stack (authentication,
   privileges, serialisation, the audit row), p50/p95, against the bare SQL query that
   returns the same 50 rows and columns; and page 10, reached through the ``next`` links,
   against the bare keyset query;
2. "next case" through the API, one radiologist at a time and 20 at once (threads of this
   process), each press claiming a new case, against the bare SQL claim (SELECT ... FOR
   UPDATE SKIP LOCKED + UPDATE);
3. the time from a claim's commit to a WebSocket client (a real socket to daphne) receiving
   the hint;
4. the DICOMweb proxy's throughput for a CT series against Orthanc directly (bench/dicomweb.py).

Several sizes (``--studies 10000 100000 1000000``) are measured in turn as the database grows,
with a table of how the cost grows.

    .venv/bin/python bench/worklist.py --studies 100000
    .venv/bin/python bench/worklist.py --studies 10000 100000 1000000 --skip-proxy
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
from readingcenter.pacs.orthanc_server import free_port  # noqa: E402

DB_NAME = "readingcenter_bench_worklist"
# What the page shows, the same rows and columns (the study, hospital and reader joined), in
# reading order: the least SQL that gives a worklist page's data.
PAGE_SELECT = """
    select c.id, c.state, c.priority, c.priority_rank, c.hospital_id, c.study_id, c.modality,
           c.modalities, c.body_part, c.subspecialty, c.ai_score, c.ai_flagged, c.ai_note,
           c.arrived_at, c.due_at, c.at_risk_at, c.claimed_by_id, c.claimed_at,
           c.last_activity_at, c.preliminary_at, c.signed_at,
           s.study_instance_uid, s.accession_number, s.patient_name, s.patient_id, s.patient_sex,
           s.patient_birth_date, s.study_date, s.study_description, s.priority_reason,
           s.instance_count, h.code, h.name, u.username, u.first_name, u.last_name
    from worklist_case c
    join studies_study s on s.id = c.study_id
    join hospitals_hospital h on h.id = c.hospital_id
    left join accounts_user u on u.id = c.claimed_by_id
    where c.state in ('unread', 'claimed', 'in_report')
      and c.hospital_id in (
        select p.hospital_id from accounts_privilege p
        where p.radiologist_id = %(user)s and p.valid_from <= current_date
          and p.revoked_at is null and (p.valid_until is null or p.valid_until >= current_date))
"""
ORDER = "order by c.priority_rank, c.due_at, c.ai_score desc, c.arrived_at, c.id limit 50"
PAGE_SQL = PAGE_SELECT + ORDER
# The page after a position (keyset): a seek to (priority rank, deadline), the ties sorted out.
DEEP_PAGE_SQL = (
    PAGE_SELECT
    + """
      and (c.priority_rank, c.due_at) >= (%(rank)s, %(due)s)
      and not (c.priority_rank = %(rank)s and c.due_at = %(due)s and not (
          c.ai_score < %(score)s or (c.ai_score = %(score)s and (c.arrived_at, c.id) > (%(arrived)s, %(id)s))))
    """  # noqa: E501
    + ORDER
)
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
SIGN_SQL = "update worklist_case set state = 'signed', signed_at = now() where id = %s"
BACK_TO_POOL_SQL = """
    update worklist_case set state = 'unread', claimed_by_id = null, claimed_at = null,
           last_activity_at = null, signed_at = null
    where id = any(%s)
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


def populate(n_hospitals: int, n_readers: int, seed: int):
    """Hospitals, the benchmark's readers (each credentialed at a third of them) and ten more
    radiologists who hold the claims already open, so that a benchmark reader's "next case"
    claims (his own open claims would come first)."""
    import datetime as dt

    from django.utils import timezone

    from readingcenter.accounts.models import Privilege, RadiologistProfile, Role, User
    from readingcenter.hospitals.models import Hospital, HospitalAETitle

    rng = random.Random(seed)
    hospitals = Hospital.objects.bulk_create(
        [
            Hospital(name=f"Hospital {i:02d}", code=f"h{i:02d}", time_zone="Asia/Seoul")
            for i in range(n_hospitals)
        ]
    )
    HospitalAETitle.objects.bulk_create(
        [HospitalAETitle(hospital=h, ae_title=f"H{i:02d}_CT") for i, h in enumerate(hospitals)]
    )
    users = []
    for i in range(n_readers + 10):
        name = f"reader{i:02d}" if i < n_readers else f"holder{i - n_readers:02d}"
        user = User(username=name, role=Role.RADIOLOGIST, first_name=f"R{i}")
        user.set_unusable_password()
        users.append(user)
    users = User.objects.bulk_create(users)
    RadiologistProfile.objects.bulk_create([RadiologistProfile(user=u) for u in users])
    today = timezone.now().date()
    privileges = []
    for user in users:
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
    return users[:n_readers], hospitals, users[n_readers:]


def _constants(model, **values) -> dict[str, tuple[str, object]]:
    """Every concrete column of ``model`` with the value a new row would get (defaults,
    auto_now), as (SQL placeholder with its type, parameter): the columns a generated INSERT
    does not compute itself, so that the fill follows the models whatever columns they gain."""
    from django.db import connection

    template = model(**values)
    out = {}
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        value = field.get_db_prep_save(field.pre_save(template, add=True), connection)
        out[field.column] = (f"%s::{field.db_type(connection)}", value)
    return out


def _insert_select(cursor, model, computed: dict[str, str], source: str, params: dict) -> None:
    constants = _constants(model)
    columns, select, values = [], [], dict(params)
    for column, (placeholder, value) in constants.items():
        columns.append(f'"{column}"')
        if column in computed:
            select.append(computed[column])
        else:
            key = f"const_{column}"
            select.append(placeholder.replace("%s", f"%({key})s"))
            values[key] = value
    table = model._meta.db_table
    cursor.execute(
        f"insert into {table} ({', '.join(columns)}) select {', '.join(select)} {source}", values
    )


def fill(start: int, stop: int, hospitals, holders, seed: int) -> None:
    """Studies start..stop-1 with their cases, in SQL (generate_series, INSERT ... SELECT):
    ~95 % signed history over the last 90 days, ~5 % open (the most recent), 5 % STAT, 20 %
    urgent; deadlines by the default SLA. A million rows take minutes, not the hour that
    building them in Python took."""
    from django.conf import settings
    from django.db import connection, transaction

    from readingcenter.studies.models import Study
    from readingcenter.worklist.models import Case

    minutes = settings.SLA_DEFAULT_MINUTES
    at_risk = settings.SLA_DEFAULT_AT_RISK_PERCENT / 100
    params = {
        "start": start,
        "stop": stop - 1,
        "hospitals": [h.pk for h in hospitals],
        "holders": [u.pk for u in holders],
        "stat": minutes["stat"],
        "urgent": minutes["urgent"],
        "routine": minutes["routine"],
        "at_risk": at_risk,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("select setseed(%s)", [((seed * 7919 + start) % 10_000) / 10_000])
        # One row of dice per study, kept for the cases' INSERT.
        cursor.execute(
            """
            create temporary table bench_fill on commit drop as
            select n, h, m, p, s, age, score, flag, holder, completed_at from (
                select n, h, m,
                       case when rp < 0.05 then 'stat' when rp < 0.25 then 'urgent'
                            else 'routine' end as p,
                       case when rs < 0.95 then 'signed' when rs < 0.98 then 'unread'
                            when rs < 0.995 then 'claimed' else 'in_report' end as s,
                       ra as age, sc as score, fl as flag, holder,
                       now() - make_interval(mins => 1) * case
                           when rs < 0.95 then 60 + ra * (90 * 24 * 60 - 60)
                           when rs < 0.98 then 1 + ra * (24 * 60 - 1)
                           else 1 + ra * (12 * 60 - 1) end as completed_at
                from (
                    select n,
                           (%(hospitals)s::bigint[])[1 + floor(random() * cardinality(
                               %(hospitals)s::bigint[]))::int] as h,
                           floor(random() * 6)::int as m,
                           random() as rp, random() as rs, random() as ra,
                           case when random() < 0.4 then round(random()::numeric, 3)::float8
                                else 0.0 end as sc,
                           random() < 0.05 as fl,
                           (%(holders)s::bigint[])[1 + floor(random() * cardinality(
                               %(holders)s::bigint[]))::int] as holder
                    from generate_series(%(start)s, %(stop)s) as n
                ) dice
            ) rows
            """,
            params,
        )
        kinds = "(array['CT','CT','CR','MR','CT','DX'])"
        parts = "(array['HEAD','CHEST','CHEST','BRAIN','ABDOMEN','KNEE'])"
        subs = "(array['neuro','chest','chest','neuro','body','msk'])"
        _insert_select(
            cursor,
            Study,
            {
                "study_instance_uid": "'1.2.826.0.1.3680043.10.777.' || n",
                "orthanc_id": "'bench-' || lpad(n::text, 9, '0')",
                "hospital_id": "h",
                "status": "'complete'",
                "patient_name": "'Patient^' || n",
                "patient_id": "'P' || mod(n, 40000)",
                "accession_number": "'A' || lpad(n::text, 9, '0')",
                "modalities": f"array[{kinds}[m + 1]]::varchar(16)[]",
                "body_part_examined": f"{parts}[m + 1]",
                "study_description": f"{kinds}[m + 1] || ' ' || {parts}[m + 1]",
                "priority": "p",
                "completed_at": "completed_at",
                "version": "1",
            },
            "from bench_fill",
            params,
        )
        target = (
            "make_interval(mins => case p when 'stat' then %(stat)s when 'urgent' then "
            "%(urgent)s else %(routine)s end)"
        )
        held = "s in ('claimed', 'in_report')"
        _insert_select(
            cursor,
            Case,
            {
                "study_id": "st.id",
                "hospital_id": "h",
                "state": "s",
                "priority": "p",
                "priority_rank": "case p when 'stat' then 0 when 'urgent' then 1 else 2 end",
                "arrived_at": "f.completed_at",
                "due_at": f"f.completed_at + {target}",
                "at_risk_at": f"f.completed_at + {target} * %(at_risk)s",
                "ai_score": "score",
                "ai_flagged": "flag",
                "modality": f"{kinds}[m + 1]",
                "modalities": f"array[{kinds}[m + 1]]::varchar(16)[]",
                "body_part": f"{parts}[m + 1]",
                "subspecialty": f"{subs}[m + 1]",
                "claimed_by_id": f"case when {held} then holder end",
                "claimed_at": f"case when {held} then f.completed_at end",
                "last_activity_at": f"case when {held} then now() end",
                "signed_at": (
                    "case when s = 'signed' then f.completed_at + interval '30 minutes' end"
                ),
            },
            "from bench_fill f join studies_study st "
            "on st.orthanc_id = 'bench-' || lpad(f.n::text, 9, '0')",
            params,
        )
    with connection.cursor() as cursor:
        # Every table, the small ones too: without statistics on privileges and hospitals the
        # planner guesses one privilege per reader and sorts all his open cases (0.4 s at a
        # million studies instead of 1 ms).
        cursor.execute("vacuum analyze")


# -- 1. the first page ----------------------------------------------------------------------------


def reader_token(user) -> str:
    """A key for a reader's tool (scope "reading"), as a manager would make it."""
    from readingcenter.accounts.services import api_token_create

    _, key = api_token_create(user, name="bench", scopes=["reading"], days=1, actor="system:bench")
    return key


_HANDLER = []  # the one request handler every client shares


def token_client(user):
    """A client for this reader, sharing one request handler with all the others.

    A server process loads its middleware once; each test client would load it again on its
    first request (WhiteNoise scanning every static file among it: 30-50 ms), and a first
    request per reader is a tenth of the presses measured, so the p95 measured that.
    """
    from rest_framework.test import APIClient

    client = APIClient(HTTP_HOST="localhost")
    if not _HANDLER:
        client.handler.load_middleware()
        _HANDLER.append(client.handler)
    client.handler = _HANDLER[0]
    client.credentials(HTTP_AUTHORIZATION=f"Token {reader_token(user)}")
    return client


def bench_first_page(readers, repeat: int, database_url: str) -> dict:
    import psycopg

    api_ms, sql_ms = [], []
    clients = [token_client(user) for user in readers]
    with psycopg.connect(database_url) as conn:
        for i in range(repeat):
            user, client = readers[i % len(readers)], clients[i % len(readers)]
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


def bench_deep_page(readers, repeat: int, database_url: str, depth: int) -> dict:
    """Page ``depth`` reached through the ``next`` links, fetched again and again, against
    the bare keyset query for the same position."""
    import psycopg

    from readingcenter.worklist.models import Case

    api_ms, sql_ms = [], []
    targets = []
    for user in readers:
        client = token_client(user)
        url, last = "/api/v1/worklist/", None
        for _ in range(depth - 1):
            body = client.get(url).json()
            if not body["next"]:
                break
            url, last = body["next"], body["results"][-1]["id"]
        if last is not None:
            case = Case.objects.get(pk=last)
            position = {"rank": case.priority_rank, "due": case.due_at, "score": case.ai_score,
                        "arrived": case.arrived_at, "id": case.pk, "user": user.pk}  # fmt: skip
            targets.append((client, url, position))
    if not targets:
        return {"api": [0.0], "sql": [0.0]}
    with psycopg.connect(database_url) as conn:
        for i in range(repeat):
            client, url, position = targets[i % len(targets)]
            t0 = time.perf_counter()
            response = client.get(url)
            api_ms.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200, response.content[:300]
            ids = [row["id"] for row in response.json()["results"]]
            t0 = time.perf_counter()
            bare = [row[0] for row in conn.execute(DEEP_PAGE_SQL, position).fetchall()]
            sql_ms.append((time.perf_counter() - t0) * 1000)
            assert bare == ids, "the bare keyset query must return the same rows"
            progress(i + 1, repeat, f"page {depth}")
    return {"api": api_ms, "sql": sql_ms}


# -- 2. next case ---------------------------------------------------------------------------------


def _press_api(user, per_reader: int, database_url: str, out, barrier, handed) -> None:
    import psycopg
    from django.db import connection

    try:
        client = token_client(user)
        with psycopg.connect(database_url, autocommit=True) as side:
            barrier.wait()
            for _ in range(per_reader):
                t0 = time.perf_counter()
                response = client.post("/api/v1/worklist/next/")
                out.append((time.perf_counter() - t0) * 1000)
                assert response.status_code in (200, 204), response.content[:300]
                if response.status_code == 200:
                    handed.append(response.json()["id"])
                    side.execute(SIGN_SQL, (handed[-1],))
    finally:
        connection.close()


def _press_sql(user, per_reader: int, database_url: str, out, barrier, handed) -> None:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
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
            out.append((time.perf_counter() - t0) * 1000)
            if row:
                handed.append(row[0])
                conn.execute(SIGN_SQL, (row[0],))


def _race(press, readers, per_reader: int, database_url: str, together: bool):
    import psycopg

    out, handed = [], []
    for group in [readers] if together else [[user] for user in readers]:
        barrier = threading.Barrier(len(group))
        threads = [
            threading.Thread(
                target=press, args=(user, per_reader, database_url, out, barrier, handed)
            )
            for user in group
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(handed) == len(set(handed)), "a case was handed out twice"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(BACK_TO_POOL_SQL, (handed,))  # the same pool for the next run
    return out, handed


def bench_next_case(readers, per_reader: int, database_url: str, *, together: bool) -> dict:
    """Each reader presses "next case" ``per_reader`` times; after each press the case is
    signed (untimed), so that every press claims a new case, as a reader's day goes. The
    bare SQL claims the same way (SELECT ... FOR UPDATE SKIP LOCKED, UPDATE), signs likewise.
    ``together``: all readers at once (threads of this one process); else one at a time."""
    api, handed = _race(_press_api, readers, per_reader, database_url, together)
    say(f"    next case (API): {len(api)} presses, {len(handed)} distinct cases claimed")
    sql, claimed = _race(_press_sql, readers, per_reader, database_url, together)
    say(f"    next case (bare SQL): {len(sql)} presses, {len(claimed)} distinct cases claimed")
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

    port = free_port()
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


GOAL = "p95 < 30 ms and < 3x bare"


def measure(readers, args, database_url: str) -> dict:
    say("==> 1. first worklist page, and a deeper one through the next links")
    bench_first_page(readers, 20, database_url)  # warm-up: connections, caches, plans
    page = bench_first_page(readers, args.repeat, database_url)
    deep = bench_deep_page(readers, args.repeat // 2, database_url, args.depth)
    results = {
        "page": report("First worklist page (GET /api/v1/worklist/, 50 rows)", page["api"],
                       page["sql"], GOAL),
        "deep": report(f"Page {args.depth} (the next link followed {args.depth - 1} times)",
                       deep["api"], deep["sql"], GOAL),
    }  # fmt: skip
    alone = readers[:5]
    say(f"==> 2. next case, {len(alone)} radiologists one at a time, then {len(readers)} at once")
    one = bench_next_case(alone, args.next_per_reader, database_url, together=False)
    results["next1"] = report(
        "Next case (POST /api/v1/worklist/next/, one radiologist at a time)",
        one["api"],
        one["sql"],
        GOAL,
    )
    many = bench_next_case(readers, args.next_per_reader, database_url, together=True)
    results["next"] = report(
        f"Next case (POST /api/v1/worklist/next/, {len(readers)} at once, threads of one process)",
        many["api"],
        many["sql"],
        GOAL,
    )
    return results


def sweep_table(sweep: list[tuple[int, int, dict]]) -> None:
    print("\nHow the cost grows with the archive (p95, ours / bare SQL, ratio)")
    print("| studies | open cases | first page | page 10 | next case, one at a time | "
          "next case, 20 at once |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for size, open_cases, r in sweep:
        cells = [
            f"{r[k]['p95']:.1f} / {r[k]['sql_p95']:.1f} ms ({r[k]['ratio_p95']:.1f}x)"
            for k in ("page", "deep", "next1", "next")
        ]
        print(f"| {size:,} | {open_cases:,} | " + " | ".join(cells) + " |")
    rows = []
    for size, _, r in sweep:
        rows += [(f"{size:>9,} first page, ours p95", r["page"]["p95"]),
                 (f"{size:>9,} first page, bare p95", r["page"]["sql_p95"])]  # fmt: skip
    print(bar_chart(rows, "ms"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, nargs="+", default=[100_000],
                        help="archive sizes, measured in turn as the database grows")  # fmt: skip
    parser.add_argument("--hospitals", type=int, default=30)
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=200, help="first-page requests")
    parser.add_argument("--depth", type=int, default=10, help="the deeper page measured")
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
    import gc

    from readingcenter.worklist.models import OPEN_STATES, Case

    readers, hospitals, holders = populate(args.hospitals, args.readers, args.seed)
    print(
        f"Worklist benchmark: {', '.join(f'{n:,}' for n in sorted(args.studies))} studies, "
        f"{args.hospitals} hospitals, {args.readers} radiologists, {os.cpu_count()} CPU cores "
        "(shared with whatever else runs: compare ratios of one run)"
    )
    sweep, filled = [], 0
    for size in sorted(args.studies):
        say(f"==> {size:,} studies with their cases")
        t0 = time.perf_counter()
        fill(filled, size, hospitals, holders, args.seed)
        filled = size
        open_cases = Case.objects.filter(state__in=OPEN_STATES).count()
        say(f"    filled in {time.perf_counter() - t0:.0f} s: {open_cases:,} open cases")
        gc.collect()
        gc.freeze()  # as readingcenter/asgi.py does at server start-up
        print(f"\n=== {size:,} studies, {open_cases:,} open cases")
        sweep.append((size, open_cases, measure(readers, args, database_url)))
    if len(sweep) > 1:
        sweep_table(sweep)
    say("==> 3. claim commit to WebSocket hint (daphne, Redis)")
    hint = bench_hint_latency(readers, env, args.hints)
    print("\nClaim commit to WebSocket hint received (daphne + Redis channel layer)")
    print(
        f"  p50 {statistics.median(hint):.1f} ms   p95 {pct(hint, 95):.1f} ms   "
        f"max {max(hint):.1f} ms   goal: p95 < 100 ms"
    )
    if not args.skip_proxy:
        say("==> 4. DICOMweb proxy throughput")
        # Its own scratch database and Orthanc: the studies above play no part in it.
        subprocess.run(
            [sys.executable, str(ROOT / "bench" / "dicomweb.py"), "--slices",
             str(args.proxy_slices)],
            check=True,
        )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
