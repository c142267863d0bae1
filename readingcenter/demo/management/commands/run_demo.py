from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from readingcenter.pacs.management.commands.run_orthanc import (
    orthanc_config_from_settings,
    orthanc_index_from_settings,
)
from readingcenter.pacs.orthanc_server import (
    OrthancConfig,
    OrthancProcess,
    OrthancServerError,
)

SHARED_DICOM = Path(settings.BASE_DIR).parent / "shared" / "dicom"

# (folder under ../shared/dicom, calling AE): real files, each from a demo hospital, plus one
# from an AE nobody onboarded, to show quarantine.
REAL_SENDS = [
    ("mr-brain-flair", "LAKEVIEW_MR"),
    ("mr-bbmri", "GZRIVER_PACS"),
    ("ct/dicompyler-ct.0.dcm", "SEOULNORTH_CT"),
    ("cr-chest", "SEOULNORTH_CR"),  # no PatientID in this file: quarantined for missing data
    ("ct/gdcm-CT-MONO2-8-abdo.dcm", "MYSTERY_MODALITY"),  # unknown sender: quarantined
]
# Synthetic studies, with orders: (AE, kind, how many).
SYNTHETIC_SENDS = [
    ("SEOULNORTH_CT", "head-ct", 4),
    ("SEOULNORTH_CR", "chest-xr", 3),
    ("GZRIVER_PACS", "mixed", 4),
    ("LAKEVIEW_CT", "head-ct", 3),
    ("LAKEVIEW_MR", "mr-brain", 1),
]


# The demo hospitals' receiving systems (run_hospital_systems); fixtures/demo.json's delivery
# endpoints point at these ports.
HOSPITAL_PORTS = {"pacs": 11112, "mllp": 2575, "fhir": 8090}
# Seoul North's own archive (a second Orthanc): the patients' earlier studies, which the
# reading center queries and retrieves as priors (fixtures/demo.json's "pacs").
ARCHIVE = {"aet": "SEOULNORTH_PACS", "dicom": 11113, "http": 8047}


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))  # noqa: S104 - probing, not serving
        except OSError:
            return False
    return True


class Command(BaseCommand):
    help = "Run the whole reading center (Orthanc, web, workers, follower) and send demo studies."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-send", action="store_true", help="start everything, send nothing")
        parser.add_argument(
            "--exit-after-send",
            action="store_true",
            help="stop once the demo studies have arrived (smoke test)",
        )

    def handle(self, *args, port: int, no_send: bool, exit_after_send: bool, **options):
        self.children: list[tuple[str, subprocess.Popen, Path]] = []
        self.orthanc: OrthancProcess | None = None
        log_dir = Path(settings.VAR_DIR) / "log"
        log_dir.mkdir(parents=True, exist_ok=True)
        config = orthanc_config_from_settings()
        self.pid_file = Path(settings.VAR_DIR) / "demo.pids"
        self._stop_leftovers()
        for needed, what in [
            (port, "the web server"),
            (config.dicom_port, "Orthanc's DICOM port"),
            (config.http_port, "Orthanc's REST port"),
            (HOSPITAL_PORTS["pacs"], "the demo hospital PACS"),
            (HOSPITAL_PORTS["mllp"], "the demo hospital HL7 interface engine"),
            (HOSPITAL_PORTS["fhir"], "the demo hospital FHIR server"),
            (settings.HL7_LISTENER_PORT, "the HL7 order listener"),
            (ARCHIVE["dicom"], "the demo hospital archive (priors)"),
            (ARCHIVE["http"], "the demo hospital archive's REST port"),
        ]:
            if not _port_free(needed):
                raise CommandError(
                    f"port {needed} ({what}) is already in use. Is an earlier `make demo` still "
                    f"running, or Debian's own Orthanc (stop it: service orthanc stop)? "
                    f"`ss -ltnp 'sport = :{needed}'` shows who holds it."
                )
        # SIGINT too, explicitly: started from a script or `make` in the background, the
        # process inherits SIGINT ignored, and Ctrl-C or `kill -INT` would then do nothing.
        signal.signal(signal.SIGTERM, self._interrupt)
        signal.signal(signal.SIGINT, self._interrupt)
        signal.signal(signal.SIGHUP, self._interrupt)  # the terminal was closed
        try:
            self._run(config, port, log_dir, no_send, exit_after_send)
        except KeyboardInterrupt:
            self.stdout.write("\nstopping…")
        finally:
            self._stop_all()

    def _interrupt(self, signum, frame):
        raise KeyboardInterrupt

    def _run(self, config, port, log_dir, no_send, exit_after_send):
        call_command("load_demo")
        call_command("open_cases")
        try:
            config.index, said = orthanc_index_from_settings()
            self.orthanc = OrthancProcess(config, log_path=log_dir / "orthanc.log")
            self.orthanc.start()
        except OrthancServerError as exc:
            raise CommandError(str(exc)) from exc
        self.archive = start_hospital_archive(config, log_dir)
        self._remember_pids()
        self.stdout.write(
            f"Orthanc up: C-STORE to {config.aet}@127.0.0.1:{config.dicom_port}; {said}"
        )
        manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
        self._spawn(
            "web",
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "readingcenter.asgi:application",
            ],
            log_dir,
        )
        self._spawn("worker", [*manage, "procrastinate", "worker", "--concurrency", "2"], log_dir)
        self._spawn("follower", [*manage, "follow_orthanc"], log_dir)
        self._spawn("hl7", [*manage, "run_hl7_listener"], log_dir)
        self._spawn(
            "hospital",
            [
                *manage,
                "run_hospital_systems",
                *("--pacs-port", str(HOSPITAL_PORTS["pacs"])),
                *("--mllp-port", str(HOSPITAL_PORTS["mllp"])),
                *("--fhir-port", str(HOSPITAL_PORTS["fhir"])),
            ],
            log_dir,
        )
        self._wait_http(f"http://127.0.0.1:{port}/healthz", "web server", log_dir / "web.log")
        self.stdout.write(f"web up at http://127.0.0.1:{port}/ (logs in {log_dir})")
        if not no_send:
            self._send_studies(manage)
        self._banner(port, config)
        if exit_after_send:
            self._wait_settled()
            return
        while True:
            for name, process, log_path in self.children:
                if process.poll() is not None:
                    tail = log_path.read_text(errors="replace").splitlines()[-20:]
                    raise CommandError(
                        f"{name} stopped unexpectedly (exit {process.returncode}); last lines of "
                        f"{log_path}:\n" + "\n".join(tail)
                    )
            if self.orthanc and not self.orthanc.running:
                raise CommandError(f"Orthanc stopped unexpectedly; see {self.orthanc.log_path}")
            time.sleep(1)

    def _stop_leftovers(self) -> None:
        """Stop what an earlier run left behind (it was killed, not stopped), so a new run works."""
        if not self.pid_file.exists():
            return
        for line in self.pid_file.read_text().split():
            pid = int(line)
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue  # long gone
            # Only our own children: a recycled pid must not be killed.
            if str(settings.BASE_DIR) in cmdline or str(settings.VAR_DIR) in cmdline:
                self.stdout.write(f"stopping a process left by an earlier run: {cmdline[:80]}")
                os.kill(pid, signal.SIGTERM)
                for _ in range(50):
                    if not Path(f"/proc/{pid}").exists():
                        break
                    time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)

    def _remember_pids(self) -> None:
        pids = [p.pid for _, p, _ in self.children]
        for orthanc in (self.orthanc, getattr(self, "archive", None)):
            if orthanc and orthanc.process:
                pids.append(orthanc.process.pid)
        self.pid_file.write_text("\n".join(map(str, pids)) + "\n")

    def _spawn(self, name: str, command: list[str], log_dir: Path) -> None:
        log_path = log_dir / f"{name}.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(os.environ),
                start_new_session=True,
            )
        self.children.append((name, process, log_path))
        self._remember_pids()

    def _wait_http(self, url: str, what: str, log_path: Path, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(url, timeout=1).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise CommandError(f"{what} did not come up within {timeout:.0f}s; see {log_path}")

    def _send_studies(self, manage: list[str]) -> None:
        if SHARED_DICOM.exists():
            for folder, aet in REAL_SENDS:
                self.stdout.write(f"\n{aet} sends ../shared/dicom/{folder}")
                subprocess.run(
                    [*manage, "send_studies", "--aet", aet, "--folder", str(SHARED_DICOM / folder)],
                    check=False,
                )
        else:
            self.stdout.write(f"({SHARED_DICOM} not found: sending synthetic studies only)")
        # A new seed each run: a second `make demo` shows new arrivals instead of duplicates.
        seed = int(time.time()) % 1_000_000
        for index, (aet, kind, count) in enumerate(SYNTHETIC_SENDS):
            self.stdout.write(f"\n{aet} sends {count} synthetic {kind} studies with orders")
            subprocess.run(
                [
                    *manage,
                    "send_studies",
                    "--aet",
                    aet,
                    "--synthetic",
                    str(count),
                    "--kind",
                    kind,
                    "--orders",
                    # As the hospitals' RIS send them: HL7 ORM^O01 in their own charsets.
                    *("--orders-via", "hl7"),
                    "--seed",
                    str(seed + index),
                    "--finding-rate",
                    "0.4",
                    # Seoul North's archive holds its patients' earlier studies: priors.
                    *(
                        ("--priors-to", f"{ARCHIVE['aet']}@127.0.0.1:{ARCHIVE['dicom']}")
                        if aet.startswith("SEOULNORTH")
                        else ()
                    ),
                ],
                check=False,
            )

    def _wait_settled(self, timeout: float = 120) -> None:
        from readingcenter.studies.models import Study, StudyStatus

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not Study.objects.filter(status=StudyStatus.RECEIVING).exists():
                break
            time.sleep(1)
        counts = {s: Study.objects.filter(status=s).count() for s in StudyStatus.values}
        self.stdout.write("studies: " + json.dumps(counts))
        from readingcenter.worklist.models import Case

        self.stdout.write(
            f"worklist: {Case.objects.filter(state='unread').count()} unread, "
            f"{Case.objects.filter(state='claimed').count()} claimed (STAT auto-assigned)"
        )

    def _banner(self, port: int, config) -> None:
        pacs, mllp, fhir = HOSPITAL_PORTS["pacs"], HOSPITAL_PORTS["mllp"], HOSPITAL_PORTS["fhir"]
        fixture = json.loads((Path(settings.BASE_DIR) / "fixtures" / "demo.json").read_text())
        password = fixture["password"]
        users = "\n".join(
            f"    {u['username']:<12} {u['role']:<12} {u.get('hospital', '')}"
            for u in fixture["users"]
        )
        self.stdout.write(
            self.style.SUCCESS(f"""
The reading center is running. Ctrl-C stops everything this command started.

  Worklist          http://127.0.0.1:{port}/worklist/   (radiologists, managers)
  Assignments       http://127.0.0.1:{port}/worklist/assignments/   (managers)
  Studies board     http://127.0.0.1:{port}/studies/
  Viewer (OHIF)     opens from a case: http://127.0.0.1:{port}/cases/<id>/
  Reports           written and signed on the case page; the hospital reads them on its
                    study page (PDF too); critical results: http://127.0.0.1:{port}/critical-results/
  Hospital systems  reports arrive at a demo PACS (port {pacs}), HL7 engine (port {mllp})
                    and FHIR server (port {fhir}): what they got is in var/hospital/, their log
                    var/log/hospital.log; notification e-mails are files in var/mail/
  API docs          http://127.0.0.1:{port}/api/docs/    (schema: /api/schema/)
  Django admin      http://127.0.0.1:{port}/admin/
  DICOM C-STORE     AE {config.aet} on 127.0.0.1:{config.dicom_port} (AE titles: admin)
  HL7 in (MLLP)     ORM^O01, OMI^O23, ADT^A08, ADT^A40 to 127.0.0.1:{settings.HL7_LISTENER_PORT}
                    (facilities: admin, on the hospital; messages and ACKs: admin, HL7 intake)
  Hospital archive  {ARCHIVE["aet"]} on 127.0.0.1:{ARCHIVE["dicom"]}: Seoul North's earlier studies,
                    fetched as priors when its new ones arrive (lookups: admin, Priors)

  Logins (password for all: {password}):
{users}
    Radiologists and managers then enter an authenticator code (TOTP): for these demo
    accounts `.venv/bin/python manage.py demo_code dr.kim` prints the current one.
    dr.kim reads neuro/MSK at seoul-north and gz-riverside (on duty); dr.chen chest/body at
    all three (on duty); dr.smith at lakeview only: his gz-riverside licence expired yesterday.

  Send more:  .venv/bin/python manage.py send_studies --aet SEOULNORTH_CT --synthetic 5 --orders
""")
        )

    def _stop_all(self) -> None:
        # Once stopping, a second signal must not cut the stop short: `timeout` and `make`
        # signal the whole process group, an impatient user presses Ctrl-C twice, and either
        # interrupted the waits below and left both Orthancs running, holding the ports the
        # next `make demo` needs. Every wait here is bounded, so the stop still ends.
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        for _name, process, _log in reversed(self.children):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for _name, process, _log in reversed(self.children):
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        if self.orthanc:
            self.orthanc.stop()
        if getattr(self, "archive", None):
            self.archive.stop()
        self.pid_file.unlink(missing_ok=True)
        self.stdout.write("all stopped.")


def start_hospital_archive(ours, log_dir: Path) -> OrthancProcess | None:
    """Seoul North's archive: an Orthanc that answers C-FIND, C-MOVE and C-GET and knows our
    AE title as a move destination, as a hospital's PACS is set up for a reading center."""
    config = OrthancConfig(
        directory=Path(settings.VAR_DIR) / "hospital-archive",
        http_port=ARCHIVE["http"],
        dicom_port=ARCHIVE["dicom"],
        aet=ARCHIVE["aet"],
        name="seoul-north-archive",
        extra={
            "DicomModalities": {"readingcenter": [ours.aet, "127.0.0.1", ours.dicom_port]},
            "DicomAlwaysAllowFind": True,
            "DicomAlwaysAllowMove": True,
            "DicomAlwaysAllowGet": True,
        },
    )
    try:
        return OrthancProcess(config, log_path=log_dir / "hospital-archive.log").start()
    except OrthancServerError as exc:
        # The demo runs without priors rather than not at all; the cases say why.
        print(f"the demo hospital archive did not start ({exc}): no priors in this demo")
        return None
