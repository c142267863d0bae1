#!/usr/bin/env python
"""Ingest with two Orthanc nodes against one, in the same run.

The same number of synthetic CT studies is sent over real C-STORE (dcmtk's storescu, several
hospital senders in parallel, one association per study) twice, each time to a fresh
reading-center database and a fresh Orthanc index in PostgreSQL (orthanc-postgresql):

  1 node:  one Orthanc, one follower;
  2 nodes: two Orthanc nodes on one index and one storage folder, one follower per node on
           the shared cursor; senders take turns between the nodes (as the cluster's front
           does by least connections).

For each it reports Orthanc's acknowledged rate (instances/s, the sender side), the rate at
which studies become complete in the reading center, and the ratio 2 nodes / 1 node.

    .venv/bin/python bench/cluster.py --studies 60 --slices 20 --senders 4

On one machine both nodes share its cores, so this measures the cost of coordination
(serializable index transactions, two change feeds on one cursor) more than capacity: on
separate machines the nodes add CPU as well. Nothing here is a pass/fail threshold.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "readingcenter.settings")

import psycopg  # noqa: E402

from bench.common import (  # noqa: E402
    bar_chart,
    prepare_database,
    process_environment,
    stop_processes,
)
from bench.ingest import generate, progress  # noqa: E402
from readingcenter.env import database_from_url  # noqa: E402
from readingcenter.pacs.orthanc_server import (  # noqa: E402
    OrthancConfig,
    OrthancProcess,
    PostgresIndex,
    free_port,
)

AET = "SEOULNORTH_CT"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=60)
    parser.add_argument("--slices", type=int, default=20)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--stable-age", type=int, default=2)
    parser.add_argument("--seed", type=int, default=11)
    return parser.parse_args()


def _index(base_url: str) -> PostgresIndex:
    db = database_from_url(base_url)
    return PostgresIndex(
        host=db["HOST"] or "127.0.0.1",
        port=int(db["PORT"] or 5432),
        database=f"rc_bench_orthanc_{uuid.uuid4().hex[:6]}",
        username=db["USER"] or "postgres",
        password=db["PASSWORD"] or "",
    )


def _start(nodes: int, args, base_url: str, work: Path):
    """A fresh database and index, the Orthanc nodes and one follower per node."""
    database_url = prepare_database(base_url, "readingcenter_bench_cluster")
    index = _index(base_url)
    index.ensure_database()
    configs = [
        OrthancConfig(
            directory=work / f"orthanc-{nodes}-{i}",
            http_port=free_port(),
            dicom_port=free_port(),
            stable_age=args.stable_age,
            index=index,
            storage=work / f"storage-{nodes}",
            name=f"bench-node-{i}",
        )
        for i in range(nodes)
    ]
    manage = [sys.executable, str(ROOT / "manage.py")]
    env = process_environment(database_url, configs[0], INGEST_SWEEP_INTERVAL="3600")
    subprocess.run([*manage, "migrate", "-v", "0"], env=env, check=True)
    subprocess.run([*manage, "load_demo"], env=env, check=True, stdout=subprocess.DEVNULL)
    orthancs = [OrthancProcess(c).start() for c in configs]
    followers = []
    for config in configs:
        others = ",".join(c.url for c in configs if c is not config)
        follower_env = process_environment(database_url, config, INGEST_SWEEP_INTERVAL="3600")
        follower_env["ORTHANC_FALLBACK_URLS"] = others
        log = open(work / f"follower-{nodes}-{config.name}.log", "wb")  # noqa: SIM115
        followers.append(
            subprocess.Popen(
                [*manage, "follow_orthanc"], env=follower_env, stdout=log, stderr=subprocess.STDOUT
            )
        )
    with psycopg.connect(database_url, autocommit=True) as conn:
        deadline = time.monotonic() + 60
        while not conn.execute("select count(*) from pacs_ingestcursor").fetchone()[0]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the followers did not start; see {work}")
            time.sleep(0.1)
    return database_url, index, configs, orthancs, followers


def _send(files, configs, senders: int, started: float) -> float:
    """Every study by C-STORE, the senders taking turns between the nodes; seconds taken."""
    sent: list[float] = []
    lock = threading.Lock()

    def send(i: int) -> None:
        config = configs[i % len(configs)]
        result = subprocess.run(
            ["storescu", "-aet", AET, "-aec", config.aet, "127.0.0.1",
             str(config.dicom_port), *map(str, files[i])],
            env={**os.environ, "TCP_NODELAY": "1"}, capture_output=True, text=True,
            check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"storescu failed: {result.stderr[-400:]}")
        with lock:
            sent.append(time.monotonic())
            progress(f"{len(configs)} node(s): C-STORE", len(sent), len(files), started)

    with ThreadPoolExecutor(senders) as pool:
        list(pool.map(send, range(len(files))))
    return time.monotonic() - started


def _wait_complete(database_url: str, total: int, nodes: int, started: float) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        deadline = time.monotonic() + 600
        while True:
            done = conn.execute(
                "select count(*) from studies_study where status = 'complete'"
            ).fetchone()[0]
            progress(f"{nodes} node(s): complete", done, total, started)
            if done >= total or time.monotonic() > deadline:
                return done
            time.sleep(0.05)


def _stop(index, orthancs, followers) -> None:
    stop_processes(followers)
    for orthanc in orthancs:
        orthanc.stop()
    index.drop_database()


def run_round(nodes: int, files, args, base_url: str, work: Path) -> dict:
    """Fresh database, index and nodes; send everything; wait until all are complete."""
    database_url, index, configs, orthancs, followers = _start(nodes, args, base_url, work)
    try:
        started = time.monotonic()
        send_seconds = _send(files, configs, args.senders, started)
        done = _wait_complete(database_url, len(files), nodes, started)
        complete_seconds = time.monotonic() - started
    finally:
        _stop(index, orthancs, followers)
    return {
        "nodes": nodes,
        "instances_per_s": sum(len(f) for f in files) / send_seconds,
        "studies_per_s": len(files) / max(complete_seconds - args.stable_age, 1e-6),
        "complete": done,
    }


def main() -> int:
    args = parse_args()
    base_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/readingcenter")
    work = Path(tempfile.mkdtemp(prefix="rc-bench-cluster-"))
    print(f"cluster ingest benchmark: {args.studies} CT studies x {args.slices} slices, "
          f"{args.senders} senders, StableAge {args.stable_age}s")  # fmt: skip
    try:
        rounds = []
        for nodes, seed in ((1, args.seed), (2, args.seed + 1)):
            files = generate(work / f"dicom-{nodes}", args.studies, args.slices, seed)
            rounds.append(run_round(nodes, files, args, base_url, work))
        one, two = rounds
        print()
        print(f"{'':<10} {'Orthanc instances/s':>20} {'complete studies/s':>20} {'complete':>9}")
        for r in rounds:
            rates = f"{r['instances_per_s']:>20.1f} {r['studies_per_s']:>20.2f}"
            print(f"{r['nodes']} node(s)  {rates} {r['complete']:>5}/{args.studies}")
        orthanc_ratio = two["instances_per_s"] / one["instances_per_s"]
        center_ratio = two["studies_per_s"] / one["studies_per_s"]
        print(f"ratio 2 nodes / 1 node: Orthanc {orthanc_ratio:.2f}x, "
              f"complete in the center {center_ratio:.2f}x")  # fmt: skip
        print("\ninstances/s acknowledged by Orthanc")
        print(bar_chart([(f"{r['nodes']} node(s)", r["instances_per_s"]) for r in rounds], "/s"))
        print("\nstudies/s complete in the reading center (StableAge taken out)")
        print(bar_chart([(f"{r['nodes']} node(s)", r["studies_per_s"]) for r in rounds], "/s"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
