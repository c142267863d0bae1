#!/usr/bin/env python
"""Ingest benchmark: does the reading center keep up with Orthanc?

Sends N synthetic CT studies over real DICOM C-STORE (dcmtk's storescu, several hospital
senders in parallel, one association per study) to a fresh Orthanc of ours, with the real
follower process running against a fresh database, and reports:

  (a) Orthanc's own ingest rate (instances/s and studies/s, sender side, acknowledged stores);
  (b) the rate at which studies become `complete` in the reading center (studies/s, StableAge
      taken out), and the ratio (b)/(a), the baseline being Orthanc measured in the same run;
  (c) the latency from a study's last instance stored to `complete`, minus StableAge (p50/p95).

    .venv/bin/python bench/ingest.py --studies 200 --slices 20
    .venv/bin/python bench/ingest.py --studies 200 --slices 20 --senders 1 2 4 8   # the sweep

Nothing here is a pass/fail threshold; the figures go into the README.
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import psycopg  # noqa: E402
from pydicom.uid import generate_uid  # noqa: E402

from bench.common import (  # noqa: E402
    bar_chart,
    cpu_seconds,
    prepare_database,
    process_environment,
    stop_processes,
)
from readingcenter.pacs.orthanc_server import OrthancConfig, OrthancProcess, free_port  # noqa: E402
from simulator.synthetic import make_study  # noqa: E402

AET = "SEOULNORTH_CT"


_last_shown: dict[str, int] = {}


def progress(label: str, done: int, total: int, started: float) -> None:
    width = 30
    filled = int(width * done / max(total, 1))
    rate = done / max(time.monotonic() - started, 1e-9)
    line = f"\r  {label:<22} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} {rate:7.1f}/s"
    if sys.stderr.isatty():
        sys.stderr.write(line)
        if done == total:
            sys.stderr.write("\n")
    elif _last_shown.get(label) != done and (done == total or done % max(total // 10, 1) == 0):
        _last_shown[label] = done
        sys.stderr.write(line.strip("\r") + "\n")
    sys.stderr.flush()


def generate(directory: Path, studies: int, slices: int, seed: int) -> list[list[Path]]:
    """Studies on disk. A few are drawn by the simulator; the rest are copies with new UIDs."""
    rng = np.random.default_rng(seed)
    templates = [
        make_study("head-ct", rng=rng, finding=bool(i % 3 == 0), slices=slices).datasets
        for i in range(min(studies, 6))
    ]
    paths: list[list[Path]] = []
    started = time.monotonic()
    for index in range(studies):
        study_uid, series_uid = generate_uid(), generate_uid()
        folder = directory / f"study{index:05d}"
        folder.mkdir(parents=True)
        files = []
        for number, template in enumerate(templates[index % len(templates)]):
            ds = copy.deepcopy(template)
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
            ds.SOPInstanceUID = generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.AccessionNumber = f"BENCH{index:06d}"
            ds.PatientID = f"BP{index:06d}"
            path = folder / f"{number:04d}.dcm"
            ds.save_as(path, enforce_file_format=True)
            files.append(path)
        paths.append(files)
        progress("generating studies", index + 1, studies, started)
    return paths


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--slices", type=int, default=20)
    parser.add_argument(
        "--senders", type=int, nargs="+", default=[4],
        help="parallel hospital senders; several counts (1 2 4 8) run one after the other, "
             "each against a fresh Orthanc and database, and end with a table and a chart",
    )  # fmt: skip
    parser.add_argument("--stable-age", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the bench database and files")
    return parser.parse_args()


def wait_until_polling(database_url: str, follower: subprocess.Popen, work: Path) -> None:
    """Start the clock only once the follower is up and polling (its start-up, Django and the
    imports, is not part of what is measured)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        ready_by = time.monotonic() + 60
        while not conn.execute("select count(*) from pacs_ingestcursor").fetchone()[0]:
            if time.monotonic() > ready_by or follower.poll() is not None:
                raise RuntimeError(f"the follower did not start; see {work}/follower.log")
            time.sleep(0.1)


@dataclass
class Timings:
    """Wall-clock times (time.time()) per study index, and the run's start."""

    total: int
    started: float = field(default_factory=time.monotonic)
    wall_started: float = field(default_factory=time.time)
    sent_at: dict[int, float] = field(default_factory=dict)
    # "Complete" is when a reader could see it: the committed row, polled every 50 ms.
    completed: dict[int, float] = field(default_factory=dict)
    # Orthanc's own part of the latency: when its StableStudy appears in the change log.
    stable_seen: dict[str, float] = field(default_factory=dict)
    send_seconds: float = 0.0


def send_all(files: list[list[Path]], config, env: dict, senders: int, timings: Timings) -> None:
    lock = threading.Lock()

    def send(index: int) -> None:
        result = subprocess.run(
            ["storescu", "-aet", AET, "-aec", config.aet, "127.0.0.1", str(config.dicom_port),
             *map(str, files[index])],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"storescu failed for study {index}: {result.stderr[-500:]}")
        with lock:
            timings.sent_at[index] = time.time()
            progress("C-STORE to Orthanc", len(timings.sent_at), len(files), timings.started)

    with ThreadPoolExecutor(senders) as pool:
        list(pool.map(send, range(len(files))))
    timings.send_seconds = time.monotonic() - timings.started


def watch_center(database_url: str, timings: Timings) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        watch_started = time.monotonic()
        while len(timings.completed) < timings.total and time.monotonic() - watch_started < 600:
            for (accession,) in conn.execute(
                "select accession_number from studies_study where status = 'complete'"
            ).fetchall():
                timings.completed.setdefault(int(accession.removeprefix("BENCH")), time.time())
            if len(timings.sent_at) == timings.total:
                progress("complete in the center", len(timings.completed), timings.total,
                         watch_started)  # fmt: skip
            time.sleep(0.05)


def watch_orthanc(orthanc: OrthancProcess, timings: Timings) -> None:
    client = orthanc.client()
    since, watch_started = 0, time.monotonic()
    while len(timings.stable_seen) < timings.total and time.monotonic() - watch_started < 600:
        page = client.changes(since=since, limit=1000)
        now = time.time()
        for change in page.changes:
            if change["ChangeType"] == "StableStudy":
                timings.stable_seen.setdefault(change["ID"], now)
        since = page.last
        if page.done:
            time.sleep(0.05)


def measure(files, config, env, orthanc, database_url: str, senders: int) -> Timings:
    timings = Timings(total=len(files))
    watcher = threading.Thread(target=watch_center, args=(database_url, timings), daemon=True)
    watcher.start()
    orthanc_watcher = threading.Thread(target=watch_orthanc, args=(orthanc, timings), daemon=True)
    orthanc_watcher.start()
    send_all(files, config, env, senders, timings)
    watcher.join(600)
    if len(timings.completed) < len(files):
        raise RuntimeError(f"only {len(timings.completed)}/{len(files)} completed in 10 minutes")
    orthanc_watcher.join(30)
    return timings


def report(
    timings: Timings,
    *,
    instances: int,
    stable_age: int,
    ids: dict,
    follower_pid: int,
    follower_cpu_at_start: float = 0.0,
):
    sent_at, completed, wall_started = timings.sent_at, timings.completed, timings.wall_started
    studies, send_seconds = timings.total, timings.send_seconds
    last_complete = max(completed.values())
    emitted = {i: timings.stable_seen[ids[f"BENCH{i:06d}"]] for i in completed
               if ids.get(f"BENCH{i:06d}") in timings.stable_seen}  # fmt: skip

    orthanc_ips = instances / send_seconds
    orthanc_sps = studies / send_seconds
    center_seconds = last_complete - wall_started - stable_age
    center_sps = studies / center_seconds
    # Steady state: studies per second between the first and the last of each side, so
    # that the fixed delays at the start (StableAge, Orthanc's stability monitor) do not
    # count as a lack of throughput.
    orthanc_steady = (studies - 1) / (max(sent_at.values()) - min(sent_at.values()))
    center_steady = (studies - 1) / (last_complete - min(completed.values()))
    latencies = [completed[i] - sent_at[i] - stable_age for i in completed]
    p50, p95 = percentile(latencies, 0.50), percentile(latencies, 0.95)
    if os.environ.get("BENCH_VERBOSE"):
        for i in sorted(completed)[:: max(len(completed) // 10, 1)]:
            print(f"    study {i:4d}: sent +{sent_at[i] - wall_started:6.2f}s  "
                  f"stable in Orthanc +{emitted.get(i, 0) - wall_started:6.2f}s  "
                  f"complete +{completed[i] - wall_started:6.2f}s")  # fmt: skip

    print()
    print(
        f"(a) Orthanc ingest          {orthanc_ips:8.1f} instances/s  "
        f"{orthanc_sps:6.2f} studies/s  ({instances} instances in {send_seconds:.1f}s)"
    )
    print(
        f"(b) complete in the center  {center_sps:8.2f} studies/s   "
        f"(last study complete {center_seconds:.1f}s after the first send, StableAge out)"
    )
    print(f"    ratio (b)/(a)           {center_sps / orthanc_sps:8.2f}  (goal: at least 0.9)")
    print(
        f"    steady state: Orthanc {orthanc_steady:.2f} studies/s, reading center "
        f"{center_steady:.2f} studies/s, ratio {center_steady / orthanc_steady:.2f}"
    )
    print(f"(c) last instance -> complete, minus StableAge {stable_age}s: "
          f"p50 {p50:.2f}s  p95 {p95:.2f}s  max {max(latencies):.2f}s  "
          f"mean {statistics.fmean(latencies):.2f}s  (goal: under 1s)")  # fmt: skip
    follower_ms = report_follower_cpu(follower_pid, studies, follower_cpu_at_start)
    ours = report_split(timings, emitted, stable_age)
    print()
    print(
        bar_chart(
            [
                ("Orthanc ingest (studies/s)", orthanc_sps),
                ("reading center complete (studies/s)", center_sps),
            ],
            "studies/s",
        )
    )
    print(bar_chart([("latency p50 beyond StableAge", p50),
                     ("latency p95 beyond StableAge", p95)], "s"))  # fmt: skip
    return {
        "orthanc": orthanc_sps,
        "center": center_sps,
        "ratio": center_sps / orthanc_sps,
        "steady": center_steady / orthanc_steady,
        "ours_p95": ours,
        "follower_ms": follower_ms,
    }


def report_follower_cpu(pid: int, studies: int, at_start: float) -> float:
    # From the moment it polls: its start-up (Django, the imports) is not the studies' cost.
    follower_cpu = cpu_seconds(pid) - at_start
    print(
        f"    follower CPU: {follower_cpu:.1f}s for {studies} studies "
        f"({1000 * follower_cpu / studies:.0f} ms/study, start-up excluded)"
    )
    return 1000 * follower_cpu / studies


def report_split(timings: Timings, emitted: dict[int, float], stable_age: int) -> float | None:
    """Where the latency goes: Orthanc's stability monitor, then the reading center; returns
    the reading center's share at p95."""
    if not emitted:
        return None
    orthanc_part = [emitted[i] - timings.sent_at[i] - stable_age for i in emitted]
    center_part = [timings.completed[i] - emitted[i] for i in emitted]
    print(
        f"    of which Orthanc (StableAge passed -> StableStudy in its change log): "
        f"p50 {percentile(orthanc_part, 0.5):.2f}s  "
        f"p95 {percentile(orthanc_part, 0.95):.2f}s"
    )
    print(
        f"    of which the reading center (StableStudy -> complete, committed):   "
        f"p50 {percentile(center_part, 0.5):.2f}s  p95 {percentile(center_part, 0.95):.2f}s"
    )
    return percentile(center_part, 0.95)


def run_once(args, files: list[list[Path]], work: Path, base_url: str, senders: int) -> dict:
    """One run at ``senders`` senders, against a fresh Orthanc, database and follower."""
    print(f"\n== {senders} sender(s) ==")
    instances = sum(len(f) for f in files)
    database_url = prepare_database(base_url, "readingcenter_bench")
    run_dir = work / f"senders{senders}"
    config = OrthancConfig(directory=run_dir / "orthanc", http_port=free_port(),
                           dicom_port=free_port(), stable_age=args.stable_age)  # fmt: skip
    env = process_environment(
        database_url,
        config,
        # measure the change feed, not the backstop
        INGEST_SWEEP_INTERVAL="3600",
    )
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v", "0"], env=env, check=True)
    subprocess.run([*manage, "load_demo"], env=env, check=True, stdout=subprocess.DEVNULL)
    orthanc = OrthancProcess(config).start()
    follower = subprocess.Popen([*manage, "follow_orthanc"], env=env,
                                stdout=open(run_dir / "follower.log", "wb"),  # noqa: SIM115
                                stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_until_polling(database_url, follower, run_dir)
        cpu_at_start = cpu_seconds(follower.pid)
        timings = measure(files, config, env, orthanc, database_url, senders)
        with psycopg.connect(database_url, autocommit=True) as conn:
            ids = dict(conn.execute("select accession_number, orthanc_id from studies_study"))
        return report(timings, instances=instances, stable_age=args.stable_age, ids=ids,
                      follower_pid=follower.pid, follower_cpu_at_start=cpu_at_start)  # fmt: skip
    finally:
        stop_processes([follower])
        orthanc.stop()


def sweep_summary(results: dict[int, dict]) -> None:
    """How the rates grow with the number of senders, side by side."""
    print("\nsenders  Orthanc st/s  center st/s  ratio  steady  ours p95  follower ms/study")
    for senders, r in results.items():
        ours = "   -" if r["ours_p95"] is None else f"{r['ours_p95']:.2f}s"
        print(f"{senders:7d}  {r['orthanc']:12.2f}  {r['center']:11.2f}  {r['ratio']:5.2f}  "
              f"{r['steady']:6.2f}  {ours:>8}  {r['follower_ms']:17.0f}")  # fmt: skip
    print()
    rows = []
    for senders, r in results.items():
        rows += [(f"{senders} sender(s): Orthanc", r["orthanc"]),
                 (f"{senders} sender(s): reading center", r["center"])]  # fmt: skip
    print(bar_chart(rows, "studies/s"))


def main() -> int:
    args = parse_args()
    base_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/readingcenter")
    work = Path(tempfile.mkdtemp(prefix="rc-bench-"))
    print(f"ingest benchmark: {args.studies} CT studies x {args.slices} slices, "
          f"{', '.join(map(str, args.senders))} sender(s), StableAge {args.stable_age}s "
          f"(work dir {work})")  # fmt: skip
    files = generate(work / "dicom", args.studies, args.slices, args.seed)
    results = {}
    try:
        for senders in args.senders:
            results[senders] = run_once(args, files, work, base_url, senders)
        if len(results) > 1:
            sweep_summary(results)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
