#!/usr/bin/env python
"""Delivery benchmark: from the signature to the hospital's systems, live and after an outage.

A scratch database, our own Orthanc, a real Procrastinate worker process (``manage.py
procrastinate worker``, all queues, as in production) and the hospital's receiving systems
(simulator/hospital_systems.py: an MLLP interface engine, a FHIR server
with conditional create, storescp as the PACS behind our Orthanc), configured as the delivery
endpoints of one demo hospital. Reports are signed through the real services by a demo
radiologist in this process. It measures:

1. hospital up: reports signed one every --interval seconds (open loop); for each report and
   channel, the time from the signing transaction's commit (as this process sees it return)
   to the receiver having it (HL7: the message read, before its ACK; FHIR: the POST handled;
   DICOM: the later of the SR's and the PDF's files as storescp wrote them), p50/p95/max;
2. after an outage: the receivers down, --backlog reports signed (the worker retrying every
   <= 2 s meanwhile: RETRY_ENV below), the receivers back on the same ports; the time until
   each channel has every report, its rate (first to last arrival), and a check that each
   report arrived exactly once and in signing order. Only the first --dicom-backlog of them
   are owed to the PACS (DICOM through Orthanc is the slowest channel). ``--backlog 100,1000``
   sweeps: one outage after another in the same run, each with its own baseline (3.);
3. the baseline, in the same run: the bare senders (channels.send_hl7 / send_fhir /
   send_dicom) called in a loop on the same documents, no outbox, no database, their PDFs
   rendered beforehand; in a process of their own, one thread per channel, all channels at
   once as the worker drains them; and the ratio outbox rate / bare rate per channel.

    .venv/bin/python bench/delivery.py
    .venv/bin/python bench/delivery.py --backlog 1000 --dicom-backlog 100
    .venv/bin/python bench/delivery.py --backlog 100,1000 --dicom-backlog 100

Nothing here is a pass/fail threshold; the figures go into the README.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    bar_chart,
    cpu_seconds,
    prepare_database,
    process_environment,
    stop_processes,
)
from readingcenter.pacs.orthanc_server import OrthancConfig, OrthancProcess, free_port  # noqa: E402

DB_NAME = "readingcenter_bench_delivery"
CHANNELS = ("hl7", "fhir", "dicom")
HOSPITAL = "seoul-north"
RADIOLOGIST = "dr.kim"
PASSWORD = "readingcenter-demo"
PACS_AET = "SEOULNORTH_PACS"
# The worker's retry schedule during the outage: every 0.5, 1, 2, 2, 2... s instead of
# production's 30 s doubling to 15 min, and never giving up, so the bench need not wait.
RETRY_ENV = {
    "DELIVERY_RETRY_BASE_SECONDS": "0.5",
    "DELIVERY_RETRY_MAX_SECONDS": "2",
    "DELIVERY_MAX_ATTEMPTS": "100000",
}


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


_last_shown: dict[str, int] = {}


def progress(label: str, done: int, total: int, started: float) -> None:
    """A bar redrawn in place on a terminal; every tenth in a log (CI has no terminal)."""
    width = 30
    filled = int(width * done / max(total, 1))
    rate = done / max(time.monotonic() - started, 1e-9)
    line = f"  {label:<26} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} {rate:7.1f}/s"
    if sys.stderr.isatty():
        sys.stderr.write("\r" + line + ("\n" if done >= total else ""))
    elif _last_shown.get(label) != done and (done >= total or done % max(total // 10, 1) == 0):
        _last_shown[label] = done
        sys.stderr.write(line + "\n")
    sys.stderr.flush()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


# -- the hospital's side ----------------------------------------------------------------------


class HospitalSystems:
    """The hospital's receiving systems, noting when each report arrived on each channel.

    ``arrivals[channel]`` is a list of (identity, time.time()) in arrival order; the identity
    is the accession number for HL7 (OBR-3) and DICOM (the files' AccessionNumber) and the
    delivery key for FHIR (the conditional create's If-None-Exist).
    """

    def __init__(self, folder: Path, channels: list[str], pacs_aet: str):
        from simulator.hospital_systems import FhirServer, InterfaceEngine, Pacs

        self.channels = channels
        self.arrivals: dict[str, list[tuple[str, float]]] = {c: [] for c in CHANNELS}
        self.lock = threading.Lock()
        self.engine = self.fhir = self.pacs = None
        if "hl7" in channels:
            self.engine = InterfaceEngine(on_message=self._hl7)
        if "fhir" in channels:
            self.fhir = FhirServer(on_request=self._fhir)
        if "dicom" in channels:
            self.pacs = Pacs(ae_title=pacs_aet, folder=folder, log=folder.with_suffix(".log"))
            self.pacs.start()
        # DICOM: storescp writes files; a thread watches the folder for them.
        self._files: dict[str, tuple[int, int]] = {}  # name -> (size, mtime_ns) once read
        self._seen: dict[str, tuple[int, int]] = {}  # name -> (size, mtime_ns) last poll
        self._objects: dict[str, dict[str, float]] = {}  # accession -> {SOP UID: mtime}
        self.rewritten: list[str] = []  # files written again (a second store of one object)
        self._stop = threading.Event()
        self._watcher = None
        if self.pacs is not None:
            self._watcher = threading.Thread(target=self._watch, daemon=True)
            self._watcher.start()

    def _hl7(self, text: str, reply: str) -> None:
        now = time.time()
        for segment in text.split("\r"):
            if segment.startswith("OBR|"):
                accession = segment.split("|")[3].split("^")[0]
                with self.lock:
                    self.arrivals["hl7"].append((accession, now))
                return

    def _fhir(self, record: dict, status: int) -> None:
        now = time.time()
        key = record["headers"].get("If-None-Exist", "").rpartition("|")[2]
        with self.lock:
            self.arrivals["fhir"].append((key, now))

    def _watch(self) -> None:
        import pydicom

        folder = self.pacs.folder
        while not self._stop.is_set():
            for entry in os.scandir(folder):
                if not entry.is_file():
                    continue
                stat = entry.stat()
                state = (stat.st_size, stat.st_mtime_ns)
                known = self._files.get(entry.name)
                if known is not None:
                    if known != state:  # the same object stored a second time
                        self._files[entry.name] = state
                        self.rewritten.append(entry.name)
                    continue
                # Read a file once it has stopped growing (storescp writes it as it arrives).
                if self._seen.get(entry.name) != state:
                    self._seen[entry.name] = state
                    continue
                try:
                    ds = pydicom.dcmread(
                        entry.path,
                        stop_before_pixels=True,
                        specific_tags=["AccessionNumber", "SOPInstanceUID"],
                    )
                    accession, sop = str(ds.AccessionNumber), str(ds.SOPInstanceUID)
                except Exception:  # noqa: BLE001, S112 - not complete yet: the next poll reads it
                    continue
                self._files[entry.name] = state
                objects = self._objects.setdefault(accession, {})
                objects[sop] = stat.st_mtime_ns / 1e9
                if len(objects) == 2:  # the SR and the PDF: the report has arrived
                    with self.lock:
                        self.arrivals["dicom"].append((accession, max(objects.values())))
            self._stop.wait(0.02)

    def dicom_span(self, accession: str) -> tuple[float, float] | None:
        """When the first and the last object of the report were written."""
        times = self._objects.get(accession, {}).values()
        return (min(times), max(times)) if times else None

    def dicom_objects(self) -> dict[str, int]:
        return {accession: len(objects) for accession, objects in self._objects.items()}

    def count(self, channel: str) -> int:
        with self.lock:
            return len(self.arrivals[channel])

    def down(self) -> None:
        for system in (self.engine, self.fhir, self.pacs):
            if system is not None:
                system.stop()

    def up(self) -> None:
        """Back on the same ports, as after a network outage."""
        for system in (self.engine, self.fhir, self.pacs):
            if system is not None:
                system.start()

    def close(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(5)
        self.down()


def configure_endpoints(hospital, systems: HospitalSystems) -> dict:
    """The hospital's delivery endpoints: ours, pointing at the receivers started here."""
    from readingcenter.delivery.models import Channel, DeliveryEndpoint

    DeliveryEndpoint.objects.filter(hospital=hospital).update(is_active=False)
    endpoints = {}
    if systems.engine is not None:
        endpoints["hl7"] = DeliveryEndpoint.objects.create(
            hospital=hospital,
            channel=Channel.HL7,
            name="Bench interface engine",
            host="127.0.0.1",
            port=systems.engine.port,
            receiving_application="RIS",
            receiving_facility="SEOULNORTH",
            timeout_seconds=5,
        )
    if systems.fhir is not None:
        endpoints["fhir"] = DeliveryEndpoint.objects.create(
            hospital=hospital,
            channel=Channel.FHIR,
            name="Bench FHIR server",
            base_url=systems.fhir.base_url,
            timeout_seconds=5,
        )
    if systems.pacs is not None:
        endpoints["dicom"] = DeliveryEndpoint.objects.create(
            hospital=hospital,
            channel=Channel.DICOM,
            name="Bench PACS",
            ae_title=systems.pacs.ae_title,
            host="127.0.0.1",
            port=systems.pacs.port,
        )
    return endpoints


# -- the reading center's side ------------------------------------------------------------------

_accessions = iter(range(1, 10**9))


def prepare_draft(hospital, user, prefix: str):
    """A study arrives, is claimed and its report drafted (what precedes the signature)."""
    from readingcenter.reports.services import report_open_draft, report_save
    from readingcenter.worklist.services import case_claim
    from tests.factories import make_case

    accession = f"{prefix}{next(_accessions):06d}"
    case = make_case(
        hospital,
        modalities=["CT"],
        body_part_examined="HEAD",
        version=1,
        accession_number=accession,
        patient_name="Kim^Jisoo=김^지수",
        study_description="CT HEAD WO CONTRAST",
    )
    case_claim(case_id=case.pk, user=user)
    draft = report_open_draft(case_id=case.pk, user=user)
    saved = report_save(
        report_id=draft.pk,
        user=user,
        revision=draft.revision,
        changes={
            "impression": "Acute right subdural hematoma, 8 mm, with 3 mm leftward midline shift.",
            # Every heading of the template written in: signing refuses a required one empty.
            "findings": "\n".join(
                f"{line.rstrip()} Unremarkable." if line.rstrip().endswith(":") else line
                for line in draft.findings.split("\n")
            ),
        },
    )
    return accession, saved


def sign(report, user) -> float:
    """Sign through the real service; returns the moment the signing transaction committed.

    The critical finding the impression names is answered as one the referrer already knows
    (what is measured is the delivery, not the critical results' calls)."""
    from readingcenter.reports.services import critical_prompts, report_sign

    known = [
        {"key": p["key"], "decision": "not_critical", "reason": "known to the referrer"}
        for p in critical_prompts(report)
    ]
    report_sign(
        report_id=report.pk, user=user, password=PASSWORD, kind="final", critical_answers=known
    )
    return time.time()


def start_workers(count: int, concurrency: int, env: dict, work: Path) -> list:
    manage = [sys.executable, str(ROOT / "manage.py")]
    workers = []
    for n in range(count):
        log = open(work / f"worker{n}.log", "wb")  # noqa: SIM115 - handed to the child
        workers.append(
            subprocess.Popen(
                [
                    *manage,
                    "procrastinate",
                    "worker",
                    "--concurrency",
                    str(concurrency),
                    "--name",
                    f"bench-delivery-{n}",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        log.close()
    return workers


def wait_for_workers(workers: list, database_url: str, work: Path) -> None:
    """Until every worker has registered itself (its start-up is not what is measured)."""
    import psycopg

    deadline = time.monotonic() + 120
    with psycopg.connect(database_url, autocommit=True) as conn:
        while True:
            (registered,) = conn.execute("select count(*) from procrastinate_workers").fetchone()
            if registered >= len(workers):
                return
            if any(w.poll() is not None for w in workers) or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start; see {work}/worker0.log")
            time.sleep(0.2)


def wait_for_arrivals(
    systems: HospitalSystems,
    expected: dict[str, int],
    label: str,
    timeout: float,
    processes: list,
    before: dict[str, int] | None = None,
) -> None:
    """Until each channel has ``expected[channel]`` more arrivals than ``before``."""
    before = before or {}
    started = time.monotonic()
    total = sum(expected.values())
    while True:
        got = {c: systems.count(c) - before.get(c, 0) for c in expected}
        done = sum(min(got[c], n) for c, n in expected.items())
        progress(label, done, total, started)
        if done >= total:
            return
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"{label}: only {got} of {expected} arrived in {timeout:.0f}s")
        if any(p.poll() not in (None, 0) for p in processes):
            raise RuntimeError(f"{label}: a process we started exited")
        time.sleep(0.1)


def identities(reports: list, channels: list[str]) -> dict[str, list[str]]:
    """What each channel's receiver knows each report by, in signing order."""
    from readingcenter.delivery.models import Delivery

    keys = {
        (report_id, channel): key
        for report_id, channel, key in Delivery.objects.filter(
            report_id__in=[r.pk for _, r in reports]
        ).values_list("report_id", "channel", "idempotency_key")
    }
    return {
        channel: [
            keys[(r.pk, channel)] if channel == "fhir" else accession for accession, r in reports
        ]
        for channel in channels
    }


def attempt_seconds(reports: list) -> dict[str, list[float]]:
    """The worker's own time per successful try (render the PDF, build, send), per channel."""
    from readingcenter.delivery.models import DeliveryAttempt

    out: dict[str, list[float]] = {}
    for channel, detail in DeliveryAttempt.objects.filter(
        delivery__report_id__in=[r.pk for _, r in reports], succeeded=True
    ).values_list("delivery__channel", "detail"):
        out.setdefault(channel, []).append(float(detail.get("seconds", 0)))
    return out


def check_once_in_order(systems: HospitalSystems, channel: str, expected: list[str]) -> str:
    """'once, in order' or what is wrong."""
    wanted = set(expected)
    arrivals = systems.arrivals[channel]
    if channel == "dicom":  # noted as the watcher found them; the files' times say the order
        arrivals = sorted(arrivals, key=lambda arrival: arrival[1])
    got = [identity for identity, _ in arrivals if identity in wanted]
    problems = []
    counts: dict[str, int] = {}
    for identity in got:
        counts[identity] = counts.get(identity, 0) + 1
    doubled = sum(1 for n in counts.values() if n > 1)
    missing = sum(1 for identity in expected if identity not in counts)
    if doubled:
        problems.append(f"{doubled} received more than once")
    if missing:
        problems.append(f"{missing} missing")
    if channel == "dicom":
        objects = systems.dicom_objects()
        wrong = sum(1 for identity in expected if objects.get(identity, 0) != 2)
        if wrong:
            problems.append(f"{wrong} without exactly 2 objects")
        if systems.rewritten:
            problems.append(f"{len(systems.rewritten)} objects stored twice")
        # Both objects of a report are stored before either of the next one's.
        spans = [systems.dicom_span(identity) for identity in expected]
        if any(a[1] > b[0] for a, b in itertools.pairwise(spans) if a and b):
            problems.append("objects of two reports interleaved")
    first_seen = list(dict.fromkeys(got))
    if first_seen != [identity for identity in expected if identity in counts]:
        problems.append("out of signing order")
    return "; ".join(problems) or "each once, in signing order"


# -- 1. hospital up ------------------------------------------------------------------------------


def measure_latency(args, hospital, user, systems, endpoints, workers) -> dict:
    channels = list(endpoints)
    say(f"==> 1. hospital up: {args.reports} reports, one every {args.interval:g} s")
    # A first report, not measured: the worker imports the formats and opens its connections.
    _, warm_up = prepare_draft(hospital, user, "WARM")
    sign(warm_up, user)
    wait_for_arrivals(systems, dict.fromkeys(channels, 1), "warm-up report", 120, workers)
    drafts = []
    started = time.monotonic()
    for n in range(args.reports):
        drafts.append(prepare_draft(hospital, user, "LAT"))
        progress("claimed and drafted", n + 1, args.reports, started)
    committed: list[float] = []
    cpu_before = sum(cpu_seconds(w.pid) for w in workers)
    counts_before = {c: systems.count(c) for c in channels}
    first = time.monotonic()
    for n, (_, report) in enumerate(drafts):
        # Open loop: report n is signed at first + n * interval, however long signing takes.
        time.sleep(max(0.0, first + n * args.interval - time.monotonic()))
        committed.append(sign(report, user))
        progress("signed", n + 1, args.reports, first)
    wait_for_arrivals(
        systems,
        dict.fromkeys(channels, args.reports),
        "received",
        600,
        workers,
        before=counts_before,
    )
    cpu = sum(cpu_seconds(w.pid) for w in workers) - cpu_before
    expected = identities(drafts, channels)
    results = {"channels": {}, "worker_cpu": cpu, "reports": args.reports}
    for channel in channels:
        arrived = dict(reversed(systems.arrivals[channel]))  # the first arrival of each
        latencies = [arrived[i] - t for i, t in zip(expected[channel], committed, strict=True)]
        results["channels"][channel] = {
            "latencies": latencies,
            "check": check_once_in_order(systems, channel, expected[channel]),
        }
    results["attempt_seconds"] = attempt_seconds(drafts)
    return results


# -- 2. after an outage --------------------------------------------------------------------------


def wait_for_pdfs(reports: list, workers: list) -> None:
    """Until the worker has rendered every signed version's PDF (job delivery.render_pdf).

    This bench signs far faster than radiologists do (a thousand reports in about a minute
    and a half); a hospital's outage lasts longer than the rendering behind it, and what is
    measured after it is the drain, not a rendering backlog the drain would meet.
    """
    from readingcenter.delivery.models import RenderedPdf

    ids = {r.pk for r in reports}
    started = time.monotonic()
    while True:
        done = RenderedPdf.objects.filter(report_id__in=ids).values("report_id").distinct()
        count = done.count()
        progress("PDFs rendered meanwhile", count, len(ids), started)
        if count >= len(ids):
            return
        if any(w.poll() is not None for w in workers):
            raise SystemExit("a worker died while rendering; see its log in the work dir")
        time.sleep(0.5)


def measure_backlog(args, size, hospital, user, systems, endpoints, workers) -> dict:
    from readingcenter.delivery.models import Delivery, DeliveryAttempt, DeliveryEndpoint

    channels = list(endpoints)
    dicom_backlog = min(args.dicom_backlog, size) if "dicom" in channels else 0
    say(
        f"==> 2. outage: the hospital's systems down, {size} reports signed"
        + (f" ({dicom_backlog} of them owed to the PACS)" if dicom_backlog else "")
    )
    systems.down()
    down_since = time.time()
    drafts = []
    started = time.monotonic()
    cpu_before = sum(cpu_seconds(w.pid) for w in workers)
    for n in range(size):
        if n == dicom_backlog and "dicom" in endpoints:
            # The rest go to HL7 and FHIR only (DICOM through Orthanc is the slowest).
            DeliveryEndpoint.objects.filter(pk=endpoints["dicom"].pk).update(is_active=False)
        accession, report = prepare_draft(hospital, user, "OUT")
        sign(report, user)
        drafts.append((accession, report))
        progress("signed while down", n + 1, size, started)
    if "dicom" in endpoints:
        DeliveryEndpoint.objects.filter(pk=endpoints["dicom"].pk).update(is_active=True)
    wait_for_pdfs([report for _, report in drafts], workers)
    owed = {c: (dicom_backlog if c == "dicom" else size) for c in channels}
    tries_while_down = DeliveryAttempt.objects.filter(
        delivery__report_id__in=[r.pk for _, r in drafts], succeeded=False
    ).count()
    say(
        f"    down for {time.time() - down_since:.0f} s; the worker tried {tries_while_down} "
        "times meanwhile; the hospital's systems come back"
    )
    cpu_while_down = sum(cpu_seconds(w.pid) for w in workers) - cpu_before
    cpu_before = sum(cpu_seconds(w.pid) for w in workers)
    counts_before = {c: systems.count(c) for c in channels}
    up_at = time.time()
    systems.up()
    wait_for_arrivals(
        systems, owed, "received after the outage", 3600, workers, before=counts_before
    )
    cpu = sum(cpu_seconds(w.pid) for w in workers) - cpu_before
    expected = identities(drafts, channels)
    expected["dicom"] = expected.get("dicom", [])[:dicom_backlog]
    results = {
        "channels": {},
        "worker_cpu": cpu,
        "worker_cpu_while_down": cpu_while_down,
        "size": size,
        "owed": owed,
        "tries_while_down": tries_while_down,
    }
    for channel in channels:
        times = [t for _, t in systems.arrivals[channel][counts_before[channel] :]]
        first, last = min(times), max(times)
        results["channels"][channel] = {
            "count": owed[channel],
            "first_after": first - up_at,
            "drained_after": last - up_at,
            "rate": (owed[channel] - 1) / (last - first) if last > first else float("inf"),
            "check": check_once_in_order(systems, channel, expected[channel]),
        }
    states = set(
        Delivery.objects.filter(report_id__in=[r.pk for _, r in drafts]).values_list(
            "state", flat=True
        )
    )
    results["states"] = states
    results["drafts"] = drafts
    results["attempt_seconds"] = attempt_seconds(drafts)
    return results


# -- 3. the bare sends ---------------------------------------------------------------------------


def measure_bare(drafts: list, owed: dict[str, int], work: Path, pdf_sample: int = 20) -> dict:
    """The channel senders alone on the same documents, built beforehand.

    They run in a process of their own, as the worker does, one thread per channel, all
    channels at once; the receivers stay in this process, as they did for the outbox.
    """
    import pickle

    from readingcenter.delivery.formats.pdf import render_pdf
    from readingcenter.delivery.selectors import report_document
    from readingcenter.reports.models import Report

    channels = list(owed)
    say("==> 3. baseline: the bare senders on the same documents, no outbox")
    # Fresh receivers (a new PACS AE title, so a new Orthanc modality), and documents with
    # their own keys, accession numbers and UIDs: nothing is "already there" on either side.
    systems = HospitalSystems(work / f"pacs-bare-{len(drafts)}", channels, "BARE_PACS")
    reports = Report.objects.select_related("study", "hospital", "parent").in_bulk(
        [r.pk for _, r in drafts]
    )
    documents = []
    for accession, draft in drafts:
        doc = report_document(reports[draft.pk], idempotency_key=f"bare-{accession}")
        documents.append(
            dataclasses.replace(
                doc, report_id=doc.report_id + 10_000_000, accession_number="BARE" + accession
            )
        )
    # The PDFs of the first few, timed; the bare sends reuse them in turn (a report's PDF is
    # about the same size whatever the report), so that the baseline does not spend minutes
    # rendering what the senders only carry.
    pdfs, render = [], []
    started = time.monotonic()
    for n, doc in enumerate(documents[:pdf_sample]):
        clock = time.perf_counter()
        pdfs.append(render_pdf(doc))
        render.append(time.perf_counter() - clock)
        progress("PDFs rendered", n + 1, min(pdf_sample, len(documents)), started)
    pdfs = [pdfs[n % len(pdfs)] for n in range(len(documents))]
    job = work / f"bare-sends-{len(drafts)}.pickle"
    job.write_bytes(
        pickle.dumps(
            {
                "owed": owed,
                "documents": documents,
                "pdfs": pdfs,
                "hl7_port": systems.engine.port if systems.engine else None,
                "fhir_base_url": systems.fhir.base_url if systems.fhir else None,
                "pacs_port": systems.pacs.port if systems.pacs else None,
            }
        )
    )
    try:
        sender = subprocess.Popen(
            [sys.executable, __file__, "--bare-sends", str(job)],
            stdout=subprocess.PIPE,
            env=os.environ,
        )
        wait_for_arrivals(systems, owed, "received (bare sends)", 1800, [sender])
        out, _ = sender.communicate(timeout=60)
        if sender.returncode != 0:
            raise RuntimeError(f"the bare sender failed ({sender.returncode})")
        answer = json.loads(out)
        results = {"channels": {}, "render_pdf": render, "cpu": answer["cpu"]}
        for channel in channels:
            expected = [
                f"bare-{accession}" if channel == "fhir" else "BARE" + accession
                for accession, _ in drafts[: owed[channel]]
            ]
            seconds = answer["seconds"][channel]
            results["channels"][channel] = {
                "count": owed[channel],
                "seconds": seconds,
                "rate": owed[channel] / seconds,
                "check": check_once_in_order(systems, channel, expected),
            }
        return results
    finally:
        systems.close()


def bare_sends(job: Path) -> int:
    """The baseline's own process: send each document on each channel, a thread a channel."""
    import pickle

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "readingcenter.settings")
    import logging

    import django

    django.setup()
    logging.getLogger("highdicom").setLevel(logging.WARNING)
    from django.conf import settings

    from readingcenter.delivery.channels import send_dicom, send_fhir, send_hl7

    spec = pickle.loads(job.read_bytes())  # noqa: S301 - written by the parent just before

    def hl7(doc, pdf):
        send_hl7(
            doc,
            host="127.0.0.1",
            port=spec["hl7_port"],
            sending_application=settings.HL7_SENDING_APPLICATION,
            sending_facility=settings.HL7_SENDING_FACILITY,
            receiving_application="RIS",
            receiving_facility="SEOULNORTH",
            pdf=pdf,
            timeout=5,
        )

    def fhir(doc, pdf):
        send_fhir(doc, base_url=spec["fhir_base_url"], token=None, pdf=pdf, timeout=5)

    def dicom(doc, pdf):
        send_dicom(doc, ae_title="BARE_PACS", host="127.0.0.1", port=spec["pacs_port"], pdf=pdf)

    senders = {"hl7": hl7, "fhir": fhir, "dicom": dicom}
    seconds: dict[str, float] = {}
    errors: list[BaseException] = []
    pairs = list(zip(spec["documents"], spec["pdfs"], strict=True))

    # Imports and first calls (highdicom's are slow) before the clock, as the worker had its
    # warm-up report.
    from readingcenter.delivery.formats.dicom_objects import encapsulated_pdf, structured_report
    from readingcenter.delivery.formats.fhir import diagnostic_report
    from readingcenter.delivery.formats.hl7v2 import oru_r01

    first, first_pdf = pairs[0]
    structured_report(first)
    encapsulated_pdf(first, first_pdf)
    diagnostic_report(first, first_pdf)
    oru_r01(first, sending_application="A", sending_facility="B", receiving_application="C",
            receiving_facility="D", pdf=first_pdf)  # fmt: skip

    def run(channel: str) -> None:
        try:
            clock = time.perf_counter()
            for doc, pdf in pairs[: spec["owed"][channel]]:
                senders[channel](doc, pdf)
            seconds[channel] = time.perf_counter() - clock
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    cpu = time.process_time()
    threads = [threading.Thread(target=run, args=(c,)) for c in spec["owed"]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    print(json.dumps({"seconds": seconds, "cpu": time.process_time() - cpu}))
    return 0


# -- the report ---------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{1000 * seconds:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def print_results(args, latency: dict, sweep: list[tuple[dict, dict]]) -> None:
    channels = list(latency["channels"])
    print()
    print(
        f"1. Hospital up: {latency['reports']} reports signed one every {args.interval:g} s; "
        "signature committed -> received by the hospital's system"
    )
    print(f"   {'channel':<7} {'p50':>9} {'p95':>9} {'max':>9}   worker's try p50   check")
    for channel in channels:
        row = latency["channels"][channel]
        values = row["latencies"]
        tries = latency["attempt_seconds"].get(channel, [0.0])
        print(
            f"   {channel:<7} {ms(pct(values, 0.5)):>9} {ms(pct(values, 0.95)):>9} "
            f"{ms(max(values)):>9}   {ms(statistics.median(tries)):>16}   {row['check']}"
        )
    print(
        f"   worker CPU {latency['worker_cpu']:.1f} s for {latency['reports']} reports "
        f"({1000 * latency['worker_cpu'] / latency['reports']:.0f} ms a report, all channels)"
    )

    for backlog, bare in sweep:
        print_backlog(backlog, bare, channels)
    print()
    print(
        bar_chart(
            [
                (f"{c} signed -> received, p50", pct(latency["channels"][c]["latencies"], 0.5))
                for c in channels
            ]
            + [
                (f"{c} signed -> received, p95", pct(latency["channels"][c]["latencies"], 0.95))
                for c in channels
            ],
            "s",
        )
    )
    rows = []
    for backlog, bare in sweep:
        size = backlog["size"]
        rows += [
            (f"{c} outbox, backlog {size:,}", backlog["channels"][c]["rate"]) for c in channels
        ]
        rows += [(f"{c} bare sends, {size:,}", bare["channels"][c]["rate"]) for c in channels]
    print(bar_chart(rows, "reports/s"))
    print(
        bar_chart(
            [
                (
                    f"{c} ratio, backlog {backlog['size']:,}",
                    backlog["channels"][c]["rate"] / bare["channels"][c]["rate"],
                )
                for backlog, bare in sweep
                for c in channels
            ],
            "x",
        )
    )


def print_backlog(backlog: dict, bare: dict, channels: list[str]) -> None:
    print()
    owed = backlog["owed"]
    print(
        f"2. After an outage: {backlog['size']} reports signed while the hospital was down "
        + (
            f"({owed['dicom']} of them owed to the PACS, --dicom-backlog), "
            if "dicom" in owed
            else ""
        )
        + f"the worker retrying every <= {RETRY_ENV['DELIVERY_RETRY_MAX_SECONDS']} s meanwhile "
        f"({backlog['tries_while_down']} failed tries); the hospital's systems back up"
    )
    print(
        f"   {'channel':<7} {'reports':>7} {'1st after':>10} {'all after':>10} "
        f"{'outbox rate':>13} {'bare rate':>13} {'ratio':>7}   check"
    )
    for channel in channels:
        row, base = backlog["channels"][channel], bare["channels"][channel]
        print(
            f"   {channel:<7} {row['count']:>7} {row['first_after']:>9.1f}s "
            f"{row['drained_after']:>9.1f}s {row['rate']:>8.2f} /s  {base['rate']:>8.1f} /s "
            f"{row['rate'] / base['rate']:>7.3f}   {row['check']}"
        )
    tries = backlog["attempt_seconds"]
    print(
        "   worker's try p50 (PDF rendered, document built and sent): "
        + ", ".join(f"{c} {ms(statistics.median(tries[c]))}" for c in channels if c in tries)
    )
    delivered = sum(owed.values())
    print(
        f"   worker CPU {backlog['worker_cpu']:.1f} s for {delivered} deliveries "
        f"({1000 * backlog['worker_cpu'] / delivered:.0f} ms a delivery); "
        f"delivery states afterwards: {', '.join(sorted(backlog['states']))}"
    )
    print(
        f"   worker CPU while the hospital was down (PDFs rendered as signed, tries): "
        f"{backlog['worker_cpu_while_down']:.1f} s"
    )
    print()
    print(
        "3. Baseline, same run: the bare senders (channels.send_*) on the same documents, no "
        "outbox, no database, PDFs rendered beforehand; a process of their own, one thread "
        "per channel, all channels at once (as the worker drains them)"
    )
    for channel in channels:
        base = bare["channels"][channel]
        print(
            f"   {channel:<7} {base['count']:>5} in {base['seconds']:6.2f} s = "
            f"{base['rate']:8.1f} reports/s   {base['check']}"
        )
    render = bare["render_pdf"]
    print(
        f"   render_pdf alone, in this process: p50 {ms(statistics.median(render))}, "
        f"p95 {ms(pct(render, 0.95))} a report "
        "(the outbox renders each version once, as it is signed, and stores it)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=20, help="reports signed, hospital up")
    parser.add_argument(
        "--interval", type=float, default=3.0, help="seconds between two signatures, hospital up"
    )
    parser.add_argument(
        "--backlog",
        default="100",
        help="reports signed during the outage (HL7 and FHIR); several, comma-separated, "
        "for one outage after another in the same run: 100,1000",
    )
    parser.add_argument(
        "--dicom-backlog",
        type=int,
        default=50,
        help="how many of the backlog are also owed to the PACS",
    )
    parser.add_argument(
        "--channels", default=",".join(CHANNELS), help="comma-separated, of: hl7, fhir, dicom"
    )
    parser.add_argument(
        "--concurrency", type=int, default=4, help="the worker's --concurrency (jobs at once)"
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, files)")
    parser.add_argument("--bare-sends", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_sends:  # the baseline's sender process (measure_bare starts it)
        return bare_sends(args.bare_sends)
    channels = [c.strip() for c in args.channels.split(",") if c.strip()]
    if not channels or set(channels) - set(CHANNELS):
        parser.error(f"--channels takes some of {', '.join(CHANNELS)}")
    channels = [c for c in CHANNELS if c in channels]
    try:
        sizes = [int(size) for size in args.backlog.split(",") if size.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 2:
        parser.error("--backlog takes report counts (at least 2), comma-separated: 100,1000")

    work = Path(tempfile.mkdtemp(prefix="rc-delivery-bench-"))
    print(
        f"Delivery benchmark: channels {', '.join(channels)}; {args.reports} reports live, "
        f"backlogs of {', '.join(f'{n:,}' for n in sizes)}; {args.workers} worker "
        f"process(es) with concurrency {args.concurrency}; {os.cpu_count()} CPU cores"
    )
    say(f"    (work dir {work})")
    base_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/readingcenter")
    database_url = prepare_database(base_url, DB_NAME)
    config = OrthancConfig(
        directory=work / "orthanc", http_port=free_port(), dicom_port=free_port(), stable_age=2
    )
    env = process_environment(
        database_url, config, CHANNELS_PREFIX=f"bench-delivery-{os.getpid()}", **RETRY_ENV
    )
    manage = [sys.executable, str(ROOT / "manage.py")]
    say(f"==> migrating a scratch database ({DB_NAME}) and loading the demo")
    subprocess.run([*manage, "migrate", "-v", "0"], env=env, check=True)
    subprocess.run([*manage, "load_demo"], env=env, check=True, stdout=subprocess.DEVNULL)

    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "readingcenter.settings")
    import logging

    import django

    django.setup()
    # This process signs and, for the baseline, builds DICOM: highdicom's INFO lines are noise.
    logging.getLogger("highdicom").setLevel(logging.WARNING)
    from django.test.utils import override_settings

    from readingcenter.accounts.models import User
    from readingcenter.hospitals.models import Hospital as HospitalRow

    # Signing asks for the password again; PBKDF2 costs ~0.3 s of this process's CPU a time,
    # which is not what is measured (the worker's time is), so the bench hashes it cheaply.
    override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]).enable()
    user = User.objects.get(username=RADIOLOGIST)
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    hospital = HospitalRow.objects.get(code=HOSPITAL)

    orthanc = OrthancProcess(config).start()
    systems = HospitalSystems(work / "pacs", channels, PACS_AET)
    workers: list[subprocess.Popen] = []
    try:
        endpoints = configure_endpoints(hospital, systems)
        workers = start_workers(args.workers, args.concurrency, env, work)
        wait_for_workers(workers, database_url, work)
        latency = measure_latency(args, hospital, user, systems, endpoints, workers)
        sweep = []
        for size in sizes:
            backlog = measure_backlog(args, size, hospital, user, systems, endpoints, workers)
            sweep.append((backlog, measure_bare(backlog["drafts"], backlog["owed"], work)))
        print_results(args, latency, sweep)
    finally:
        stop_processes(workers, timeout=20)
        systems.close()
        orthanc.stop()
        if args.keep:
            say(f"    kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
