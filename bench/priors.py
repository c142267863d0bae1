#!/usr/bin/env python
"""Priors benchmark: from a new study's arrival to its priors being readable, against a bare
C-MOVE of the same studies from the same PACS in the same run.

A hospital PACS (a second Orthanc) holds N earlier studies of one patient (default 3 x 200
CT instances). Baseline: pynetdicom C-MOVEs them, one after the other, from that PACS into
our Orthanc (the time the PACS takes to send them; nothing else). Then they are deleted from
our Orthanc and the reading center does it for real: the patient's new study is sent, the
real follower and worker processes run against a scratch database, and the clock runs from
the new study's last instance stored to the moment every prior is `complete` in the reading
center (found by C-FIND, chosen by the hospital's rules, moved, ingested, StableAge waited).

    .venv/bin/python bench/priors.py --priors 3 --instances 200

Nothing here is a pass/fail threshold; the figures go into the README.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench.common import (  # noqa: E402
    bar_chart,
    prepare_database,
    process_environment,
    stop_processes,
)
from readingcenter.pacs.orthanc_server import OrthancConfig, OrthancProcess, free_port  # noqa: E402
from simulator.sender import send_datasets  # noqa: E402
from simulator.synthetic import make_study, random_patient  # noqa: E402

DB_NAME = "bench_priors"
HOSPITAL_AET, PACS_AET = "BENCH_CT", "BENCH_PACS"
STABLE_AGE = 2


def say(text: str) -> None:
    print(text, flush=True)


def _studies(rng, patient, count: int, instances: int) -> list:
    now = dt.datetime.now()
    return [
        make_study(
            "head-ct",
            rng=rng,
            patient=patient,
            slices=instances,
            size=256,
            study_datetime=now - dt.timedelta(days=365 * (k + 1)),
        )
        for k in range(count)
    ]


def _send(datasets, port: int, calling: str, called: str) -> float:
    started = time.monotonic()
    result = send_datasets(
        datasets,
        host="127.0.0.1",
        port=port,
        calling_aet=calling,
        called_aet=called,
        progress=lambda done, total: None,
        timeout=60,
    )
    if result.failed:
        raise SystemExit(f"{result.failed} instances were not stored on {called}")
    return time.monotonic() - started


def _bare_move(pacs: OrthancConfig, ours: OrthancConfig, uids: list[str]) -> float:
    from readingcenter.priors import qr

    peer = qr.Peer(PACS_AET, "127.0.0.1", pacs.dicom_port)
    started = time.monotonic()
    for uid in uids:
        qr.move_study(peer, calling_aet=ours.aet, destination=ours.aet, study_uid=uid)
    return time.monotonic() - started


def _delete_all(config: OrthancConfig) -> None:
    import requests

    auth = (config.username, config.password)
    for orthanc_id in requests.get(f"{config.url}/studies", auth=auth, timeout=30).json():
        requests.delete(f"{config.url}/studies/{orthanc_id}", auth=auth, timeout=60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--priors", type=int, default=3)
    parser.add_argument("--instances", type=int, default=200, help="instances per prior")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-priors-"))
    base_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/readingcenter")
    database_url = prepare_database(base_url, DB_NAME)
    ours = OrthancConfig(directory=work / "ours", http_port=free_port(), dicom_port=free_port(),
                         stable_age=STABLE_AGE)  # fmt: skip
    pacs = OrthancConfig(
        directory=work / "pacs", http_port=free_port(), dicom_port=free_port(), aet=PACS_AET,
        name="bench-pacs",
        extra={"DicomModalities": {"rc": [ours.aet, "127.0.0.1", ours.dicom_port]},
               "DicomAlwaysAllowFind": True, "DicomAlwaysAllowMove": True},
    )  # fmt: skip
    env = process_environment(database_url, ours, ORTHANC_AET=ours.aet,
                              INGEST_POLL_INTERVAL="0.1")  # fmt: skip
    os.environ.update(env)
    say(f"==> migrating a scratch database ({DB_NAME})")
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "readingcenter.settings")
    django.setup()
    from readingcenter.hospitals.models import Hospital, HospitalAETitle, HospitalPACS
    from readingcenter.studies.models import Study

    hospital = Hospital.objects.create(name="Bench Hospital", code="bench")
    HospitalAETitle.objects.create(hospital=hospital, ae_title=HOSPITAL_AET)
    HospitalPACS.objects.create(hospital=hospital, ae_title=PACS_AET, host="127.0.0.1",
                                port=pacs.dicom_port, match="either",
                                max_studies=args.priors, max_years=10)  # fmt: skip
    processes = [OrthancProcess(ours).start(), OrthancProcess(pacs).start()]
    children = []
    try:
        rng = np.random.default_rng(7)
        patient = random_patient(rng)
        say(f"==> drawing {args.priors} priors x {args.instances} instances and the new study")
        priors = _studies(rng, patient, args.priors, args.instances)
        current = make_study("head-ct", rng=rng, patient=patient, slices=24, size=256)
        say("==> storing the priors in the hospital PACS")
        for prior in priors:
            _send(prior.datasets, pacs.dicom_port, "BENCH_MODALITY", PACS_AET)
        uids = [p.study_instance_uid for p in priors]

        say("==> baseline: a bare C-MOVE of the same studies into our Orthanc")
        bare = _bare_move(pacs, ours, uids)
        say(f"    {bare:.2f} s")
        _delete_all(ours)

        say("==> ours: the new study arrives; follower and worker do the rest")
        log = open(work / "processes.log", "ab")  # noqa: SIM115 - handed to the children
        for command in (["follow_orthanc"], ["procrastinate", "worker", "--queues", "priors"]):
            children.append(subprocess.Popen([*manage, *command], env=env, stdout=log,
                                             stderr=subprocess.STDOUT))  # fmt: skip
        _send(current.datasets, ours.dicom_port, HOSPITAL_AET, ours.aet)
        arrived = time.monotonic()
        deadline, shown = arrived + 600, -1
        while time.monotonic() < deadline:
            done = Study.objects.filter(study_instance_uid__in=uids, is_prior=True,
                                        status="complete",
                                        instance_count=args.instances).count()  # fmt: skip
            if done != shown:
                print(f"\r    priors complete: {done}/{len(uids)} after "
                      f"{time.monotonic() - arrived:.1f} s", end="", flush=True)  # fmt: skip
                shown = done
            if done == len(uids):
                break
            time.sleep(0.2)
        else:
            raise SystemExit(f"\npriors not all complete after 600 s; see {work}/processes.log")
        ours_s = time.monotonic() - arrived
        print()
    finally:
        stop_processes(children)
        for process in processes:
            process.stop()
    net = ours_s - STABLE_AGE
    say(f"\npriors of one patient: {args.priors} studies x {args.instances} instances")
    say(bar_chart([("bare C-MOVE (PACS sends, nothing else)", bare),
                   ("ours, arrival -> priors readable", ours_s),
                   (f"ours minus StableAge ({STABLE_AGE} s)", net)], "s"))  # fmt: skip
    say(f"ratio ours / bare C-MOVE: {ours_s / bare:.2f}x ({net / bare:.2f}x without StableAge)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
