#!/usr/bin/env python
"""DICOMweb proxy benchmark: does the viewer get its images through us as fast as from Orthanc?

A synthetic head CT series (N slices, 512x512, 16-bit: 512 KiB a frame) is C-STOREd to a
fresh Orthanc of ours and ingested into a fresh database; the project runs under daphne, as in
production, and a radiologist logs in (password, then the demo authenticator's code). Then
every frame is retrieved the way OHIF retrieves it
(WADO-RS ``frames/1`` per instance, ``Accept: multipart/related; type="application/octet-stream";
transfer-syntax=*``, several connections at once like a browser), alternately from Orthanc's
DICOMweb directly (the baseline, measured in the same run) and through our authorizing proxy,
and reports MB/s for each, the ratio (goal: at least 0.9) and daphne's CPU time per frame
relayed (steadier than MB/s when other work shares the machine).

    .venv/bin/python bench/dicomweb.py --slices 150 --concurrency 1 6 --rounds 3

``measure_proxy(...)`` is the measurement alone, for a benchmark that already runs the project
(daphne, Orthanc, a logged-in session): it returns the figures as a dict.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import requests  # noqa: E402

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
JSON = "application/dicom+json"
FRAME_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Endpoint:
    """One DICOMweb root to read from, with a keep-alive session per client thread."""

    def __init__(self, name: str, root: str, *, auth=None, cookies=None, headers=None):
        self.name, self.root = name, root.rstrip("/")
        self.auth, self.cookies, self.headers = auth, cookies or {}, headers or {}
        self._local = threading.local()

    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False
            session.auth = self.auth
            session.cookies.update(self.cookies)
            session.headers.update(self.headers)
            self._local.session = session
        return session

    def get(self, path: str, accept: str) -> requests.Response:
        response = self.session().get(f"{self.root}/{path}", headers={"Accept": accept}, timeout=60)
        response.raise_for_status()
        return response


def frame_paths(endpoint: Endpoint, study_instance_uid: str) -> list[str]:
    """Every frame of the study, found as OHIF finds them (series list, then metadata)."""
    paths = []
    series = endpoint.get(f"studies/{study_instance_uid}/series", JSON).json()
    for entry in series:
        series_uid = entry["0020000E"]["Value"][0]
        base = f"studies/{study_instance_uid}/series/{series_uid}"
        for instance in endpoint.get(f"{base}/metadata", JSON).json():
            sop = instance["00080018"]["Value"][0]
            frames = int(instance.get("00280008", {}).get("Value", [1])[0])
            paths += [f"{base}/instances/{sop}/frames/{n}" for n in range(1, frames + 1)]
    return paths


def retrieve_all(endpoint: Endpoint, paths: list[str], concurrency: int) -> dict:
    """Fetch every frame with ``concurrency`` connections; bytes, seconds, latencies."""
    latencies: list[float] = []

    def fetch(path: str) -> int:
        started = time.perf_counter()
        size = len(endpoint.get(path, FRAME_ACCEPT).content)
        latencies.append(time.perf_counter() - started)
        return size

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        total = sum(pool.map(fetch, paths))
    seconds = time.perf_counter() - started
    return {
        "bytes": total,
        "seconds": seconds,
        "mb_s": total / seconds / 1e6,
        "p50_ms": 1000 * statistics.median(latencies),
    }


def measure_proxy(
    *,
    proxy: Endpoint,
    orthanc: Endpoint,
    study_instance_uid: str,
    concurrency: int = 6,
    rounds: int = 3,
    server_pid: int | None = None,
) -> dict:
    """Every frame of one study, alternately from Orthanc and through the proxy.

    Returns ``{"frames", "bytes", "orthanc_mb_s", "proxy_mb_s", "ratio", "orthanc_p50_ms",
    "proxy_p50_ms", "concurrency", "rounds"}`` (medians over the rounds, after a warm-up pass
    of each that fills the page cache and opens the connections), and with ``server_pid`` (the
    web process) ``"proxy_cpu_ms"``: its CPU time per frame relayed, which other work on the
    machine does not change the way it changes MB/s.
    """
    paths = frame_paths(proxy, study_instance_uid)
    if paths != frame_paths(orthanc, study_instance_uid):
        raise RuntimeError("the proxy and Orthanc list different frames for the study")
    runs: dict[str, list[dict]] = {"orthanc": [], "proxy": []}
    for round_number in range(rounds + 1):
        for name, endpoint in (("orthanc", orthanc), ("proxy", proxy)):
            cpu_before = cpu_seconds(server_pid) if server_pid else 0.0
            result = retrieve_all(endpoint, paths, concurrency)
            if server_pid:
                result["cpu_ms"] = 1000 * (cpu_seconds(server_pid) - cpu_before) / len(paths)
            if round_number:
                runs[name].append(result)
            label = f"round {round_number}" if round_number else "warm-up"
            say(
                f"  {label:<8} {endpoint.name:<22} x{concurrency}: {result['mb_s']:8.1f} MB/s "
                f"({len(paths)} frames in {result['seconds']:.2f}s, "
                f"p50 {result['p50_ms']:.1f} ms)"
            )
    sizes = {r["bytes"] for rs in runs.values() for r in rs}
    if len(sizes) != 1:
        raise RuntimeError(f"the proxy and Orthanc sent different amounts: {sorted(sizes)}")
    orthanc_mb_s = statistics.median(r["mb_s"] for r in runs["orthanc"])
    proxy_mb_s = statistics.median(r["mb_s"] for r in runs["proxy"])
    figures = {
        "frames": len(paths),
        "bytes": sizes.pop(),
        "concurrency": concurrency,
        "rounds": rounds,
        "orthanc_mb_s": orthanc_mb_s,
        "proxy_mb_s": proxy_mb_s,
        "ratio": proxy_mb_s / orthanc_mb_s,
        "orthanc_p50_ms": statistics.median(r["p50_ms"] for r in runs["orthanc"]),
        "proxy_p50_ms": statistics.median(r["p50_ms"] for r in runs["proxy"]),
    }
    if server_pid:
        figures["proxy_cpu_ms"] = statistics.median(r["cpu_ms"] for r in runs["proxy"])
    return figures


def _csrf_token(page: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


def log_in(base_url: str, username: str, password: str, env: dict) -> dict:
    """A session cookie, got the way a person gets one: the login form, then the code step
    with the code of the demo account's authenticator (``manage.py demo_code``)."""
    session = requests.Session()
    session.trust_env = False
    form = session.get(f"{base_url}/login/", timeout=10)
    answer = session.post(
        f"{base_url}/login/",
        data={"username": username, "password": password,
              "csrfmiddlewaretoken": _csrf_token(form.text)},
        headers={"Referer": f"{base_url}/login/"},
        allow_redirects=False,
        timeout=30,
    )  # fmt: skip
    if answer.status_code != 302 or "sessionid" not in session.cookies:
        raise RuntimeError(f"could not log in as {username} ({answer.status_code})")
    verify = f"{base_url}/login/verify/"
    form = session.get(verify, timeout=10)
    if form.url.startswith(verify):  # those who read need the authenticator's code too
        code = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "demo_code", username],
            env=env, check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        answer = session.post(
            verify,
            data={"token": code, "csrfmiddlewaretoken": _csrf_token(form.text)},
            headers={"Referer": verify},
            allow_redirects=False,
            timeout=30,
        )
        if answer.status_code != 302:
            raise RuntimeError(f"the second step refused {username} ({answer.status_code})")
    return {"sessionid": session.cookies["sessionid"]}


def wait_for(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited; see {log}")
        try:
            if requests.get(url, timeout=1).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"daphne did not answer within {timeout:.0f}s; see {log}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slices", type=int, default=150)
    parser.add_argument("--size", type=int, default=512, help="rows and columns of each slice")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 6],
                        help="client connections at once (a browser opens 6 per host)")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--user", default="dr.kim", help="a demo radiologist with Seoul privileges")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="rc-dicomweb-bench-"))
    say(f"DICOMweb proxy benchmark: a {args.slices}-slice {args.size}x{args.size} CT, "
        f"concurrency {args.concurrency}, {args.rounds} rounds (work dir {work})")  # fmt: skip
    base_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/readingcenter")
    database_url = prepare_database(base_url, "readingcenter_bench_dicomweb")
    config = OrthancConfig(directory=work / "orthanc", http_port=free_port(),
                           dicom_port=free_port(), stable_age=1)  # fmt: skip
    port = free_port()
    env = process_environment(database_url, config, DJANGO_ALLOWED_HOSTS="127.0.0.1",
                              DJANGO_CSRF_TRUSTED_ORIGINS=f"http://127.0.0.1:{port}",
                              LOG_LEVEL="WARNING")  # fmt: skip
    manage = [sys.executable, str(ROOT / "manage.py")]
    say("  migrating a fresh database and loading the demo hospitals and users")
    subprocess.run([*manage, "migrate", "-v", "0"], env=env, check=True)
    subprocess.run([*manage, "load_demo"], env=env, check=True, stdout=subprocess.DEVNULL)
    orthanc = OrthancProcess(config).start()
    daphne = None
    try:
        say(f"  drawing the CT and sending it over C-STORE as {AET}")
        study = make_study("head-ct", rng=np.random.default_rng(args.seed), slices=args.slices,
                           size=args.size)  # fmt: skip
        folder = work / "dicom"
        folder.mkdir()
        files = []
        for index, ds in enumerate(study.datasets):
            files.append(folder / f"{index:04d}.dcm")
            ds.save_as(files[-1], enforce_file_format=True)
        subprocess.run(
            ["storescu", "-aet", AET, "-aec", config.aet, "127.0.0.1", str(config.dicom_port),
             *map(str, files)],
            env=env, check=True, capture_output=True,
        )  # fmt: skip
        say("  ingesting it (the follower, once)")
        os.environ.update(env)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "readingcenter.settings")
        import django

        django.setup()
        from readingcenter.studies.ingest import follow_until_idle
        from readingcenter.studies.models import Study

        follow_until_idle()
        if not Study.objects.filter(study_instance_uid=study.study_instance_uid).exists():
            raise RuntimeError("the study did not arrive in the reading center")

        say(f"  starting the project under daphne on port {port}")
        log = work / "daphne.log"
        daphne = subprocess.Popen(
            [str(Path(sys.executable).parent / "daphne"), "-b", "127.0.0.1", "-p", str(port),
             "readingcenter.asgi:application"],
            env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
        )  # fmt: skip
        site = f"http://127.0.0.1:{port}"
        wait_for(f"{site}/healthz", daphne, log)
        cookies = log_in(site, args.user, "readingcenter-demo", env)
        proxy = Endpoint("through the proxy", f"{site}/dicom-web", cookies=cookies)
        direct = Endpoint("Orthanc directly", f"{config.url}/dicom-web",
                          auth=(config.username, config.password))  # fmt: skip
        results = []
        for concurrency in args.concurrency:
            say(f"retrieving every frame, {concurrency} connection(s) at once")
            results.append(
                measure_proxy(proxy=proxy, orthanc=direct,
                              study_instance_uid=study.study_instance_uid,
                              concurrency=concurrency, rounds=args.rounds,
                              server_pid=daphne.pid)
            )  # fmt: skip
        print()
        first = results[0]
        print(f"{first['frames']} frames, {first['bytes'] / 1e6:.1f} MB per pass; "
              f"medians of {args.rounds} rounds")  # fmt: skip
        for r in results:
            print(
                f"  x{r['concurrency']:<2} Orthanc directly {r['orthanc_mb_s']:7.1f} MB/s "
                f"(p50 {r['orthanc_p50_ms']:5.1f} ms/frame)   through the proxy "
                f"{r['proxy_mb_s']:7.1f} MB/s (p50 {r['proxy_p50_ms']:5.1f} ms/frame)   "
                f"ratio {r['ratio']:.2f}  (goal: at least 0.9); daphne's CPU "
                f"{r['proxy_cpu_ms']:.2f} ms a frame"
            )
        print()
        rows = []
        for r in results:
            rows += [(f"Orthanc directly, x{r['concurrency']}", r["orthanc_mb_s"]),
                     (f"through the proxy, x{r['concurrency']}", r["proxy_mb_s"])]  # fmt: skip
        print(bar_chart(rows, "MB/s"))
    finally:
        stop_processes([daphne])
        orthanc.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
