#!/usr/bin/env python
"""Next case with many radiologists at once, through the cluster's front: 1 web node against 2.

A scratch database with a populated worklist; daphne web nodes behind haproxy (the front
`make cluster` writes); N radiologists (threads, each with its own HTTP connection and API
token) press "next case" and give the case back, M times each, all at once. Reported: p50,
p95 and max latency per press for 1 and 2 web nodes in the same run, and the bare SQL claim
(the same query and update, over psycopg) as the baseline.

    .venv/bin/python bench/web_nodes.py --studies 20000 --readers 50 --presses 10

On one 2-core machine the web nodes share the cores with PostgreSQL and the load itself: the
figures show the cost of the front and a second node's coordination more than capacity.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import bar_chart, prepare_database, stop_processes  # noqa: E402
from bench.worklist import (  # noqa: E402
    CLAIM_SQL,
    pct,
    populate,
    reader_token,
    wait_for_port,
)
from readingcenter.pacs.orthanc_server import free_port  # noqa: E402

DB_NAME = "readingcenter_bench_web_nodes"


def start_front(nodes: int, env: dict, work: Path):
    """``nodes`` daphne processes behind haproxy; returns (front URL, processes)."""
    from readingcenter.demo.cluster import ClusterPorts, front_config, haproxy_binary

    ports = ClusterPorts(
        front_http=free_port(),
        front_dicom=free_port(),
        web=tuple(free_port() for _ in range(nodes)),
        orthanc_http=(),
        orthanc_dicom=(),
    )
    daphne = [str(ROOT / ".venv/bin/daphne"), "-b", "127.0.0.1", "-p"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    processes = [
        subprocess.Popen(
            [*daphne, str(port), "readingcenter.asgi:application"], cwd=ROOT, env=env, **quiet
        )
        for port in ports.web
    ]
    for port in ports.web:
        wait_for_port(port)
    config = work / f"front-{nodes}.cfg"
    config.write_text(front_config(ports), encoding="utf-8")
    processes.append(
        subprocess.Popen(
            [haproxy_binary(), "-db", "-f", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    wait_for_port(ports.front_http)
    return f"http://127.0.0.1:{ports.front_http}", processes


def press_next(url: str, keys: list[str], presses: int) -> list[float]:
    """Every reader presses "next case" ``presses`` times at once; the case goes back each time."""
    import requests

    out: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(keys))

    def reader(key: str) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {key}"
        session.get(f"{url}/healthz", timeout=10)
        barrier.wait()
        for _ in range(presses):
            t0 = time.perf_counter()
            answer = session.post(f"{url}/api/v1/worklist/next/", timeout=60)
            elapsed = (time.perf_counter() - t0) * 1000
            with lock:
                out.append(elapsed)
            if answer.status_code == 200:
                case = answer.json()["id"]
                session.post(f"{url}/api/v1/worklist/{case}/release/", timeout=60)

    threads = [threading.Thread(target=reader, args=(k,)) for k in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out


def bare_sql(database_url: str, readers, presses: int) -> list[float]:
    import psycopg

    out: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(readers))

    def reader(user) -> None:
        with psycopg.connect(database_url) as conn:
            barrier.wait()
            for _ in range(presses):
                t0 = time.perf_counter()
                with conn.transaction():
                    row = conn.execute(CLAIM_SQL, {"user": user.pk}).fetchone()
                    if row:
                        conn.execute("update worklist_case set state = 'claimed', "
                                     "claimed_by_id = %s, claimed_at = now() where id = %s",
                                     (user.pk, row[0]))  # fmt: skip
                with lock:
                    out.append((time.perf_counter() - t0) * 1000)
                if row:
                    conn.execute("update worklist_case set state = 'unread', claimed_by_id = "
                                 "null, claimed_at = null where id = %s", (row[0],))  # fmt: skip
                    conn.commit()

    threads = [threading.Thread(target=reader, args=(u,)) for u in readers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=20_000)
    parser.add_argument("--hospitals", type=int, default=30)
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--presses", type=int, default=10)
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()

    base = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/readingcenter")
    database_url = prepare_database(base, DB_NAME)
    env = {**os.environ, "DATABASE_URL": database_url,
           "CHANNELS_PREFIX": f"bench-web-{os.getpid()}"}  # fmt: skip
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env,
                   check=True)  # fmt: skip
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "readingcenter.settings")
    import django

    django.setup()
    readers = populate(args.studies, args.hospitals, args.readers, args.seed)
    keys = [reader_token(user) for user in readers]
    print(f"next case through the front: {args.studies:,} studies, {args.readers} radiologists "
          f"at once, {args.presses} presses each, {os.cpu_count()} CPU cores")  # fmt: skip
    work = Path(os.environ.get("TMPDIR", "/tmp"))
    results = {}
    for nodes in (1, 2):
        url, processes = start_front(nodes, env, work)
        try:
            press_next(url, keys, 2)  # warm-up: connections, caches, plans
            results[f"{nodes} web node(s)"] = press_next(url, keys, args.presses)
        finally:
            stop_processes(processes)
    results["bare SQL claim"] = bare_sql(database_url, readers, args.presses)
    print(f"\n{'':<18} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'presses':>8}")
    for name, values in results.items():
        print(f"{name:<18} {statistics.median(values):>8.1f} {pct(values, 95):>8.1f} "
              f"{max(values):>8.1f} {len(values):>8}")  # fmt: skip
    one, two = results["1 web node(s)"], results["2 web node(s)"]
    print(f"p95 2 nodes / 1 node: {pct(two, 95) / pct(one, 95):.2f}x; 2 nodes / bare SQL: "
          f"{pct(two, 95) / pct(results['bare SQL claim'], 95):.1f}x")  # fmt: skip
    print("\nnext-case p95 (ms)")
    print(bar_chart([(name, pct(values, 95)) for name, values in results.items()], "ms"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
