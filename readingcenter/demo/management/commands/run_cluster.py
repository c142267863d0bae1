from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from types import SimpleNamespace

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from readingcenter.demo.cluster import Cluster, ClusterError, ClusterPorts
from readingcenter.demo.management.commands.run_demo import (
    ARCHIVE,
    HOSPITAL_PORTS,
    _port_free,
    start_hospital_archive,
)
from readingcenter.demo.management.commands.run_demo import (
    Command as DemoCommand,
)
from readingcenter.pacs.management.commands.run_orthanc import orthanc_index_from_settings
from readingcenter.pacs.orthanc_server import OrthancServerError


class Command(DemoCommand):
    help = (
        "Run the reading center as a cluster on this machine: 2 Orthanc nodes on one PostgreSQL "
        "index, 2 web servers behind haproxy (HTTP, WebSockets and DICOM), 2 workers and 2 "
        "followers, each restarted when it dies."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help="the front's HTTP port")
        parser.add_argument("--dicom-port", type=int, default=settings.ORTHANC_DICOM_PORT)
        parser.add_argument(
            "--hl7-port",
            type=int,
            default=settings.HL7_LISTENER_PORT,
            help="the front's HL7 (MLLP) port",
        )
        parser.add_argument(
            "--hl7-node-ports", default="2581,2582", help="the nodes' HL7 listeners: hl7-1,hl7-2"
        )
        parser.add_argument("--no-send", action="store_true", help="start everything, send nothing")
        parser.add_argument("--no-demo-data", action="store_true", help="skip load_demo")
        parser.add_argument(
            "--var", type=Path, default=None, help="folder for configs, files and logs"
        )
        parser.add_argument(
            "--node-ports",
            default="8101,8102,8043,8044,4251,4252",
            help="web-1,web-2,orthanc-1 HTTP,orthanc-2 HTTP,orthanc-1 DICOM,orthanc-2 DICOM",
        )
        parser.add_argument(
            "--network",
            choices=["auto", "namespaces", "loopback"],
            default="auto",
            help="each node in its own network namespace (needs root and iproute2), all on "
            "loopback ports, or namespaces where they can be made (the default)",
        )

    def handle(
        self,
        *args,
        port,
        dicom_port,
        hl7_port,
        no_send,
        no_demo_data,
        var,
        node_ports,
        network,
        **options,
    ):
        numbers = [int(p) for p in node_ports.split(",")]
        hl7_nodes = tuple(int(p) for p in options["hl7_node_ports"].split(","))
        if len(numbers) != 6:
            raise CommandError("--node-ports takes six ports: see --help")
        ports = ClusterPorts(port, dicom_port, tuple(numbers[:2]), tuple(numbers[2:4]),
                             tuple(numbers[4:]), hl7_port, hl7_nodes)  # fmt: skip
        taken = [p for p in ports.all() if not _port_free(p)]
        if taken:
            raise CommandError(
                f"ports {taken} are in use: is `make demo` or another cluster running? "
                "Stop it, or choose other ports (--port, --dicom-port, --node-ports)."
            )
        manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
        try:
            index, said = orthanc_index_from_settings()
            self.cluster = Cluster(
                var=var or Path(settings.VAR_DIR) / "cluster",
                manage=manage,
                base_env=dict(os.environ),
                index=index,
                ports=ports,
                orthanc_username=settings.ORTHANC_USERNAME,
                orthanc_password=settings.ORTHANC_PASSWORD,
                aet=settings.ORTHANC_AET,
                stable_age=settings.ORTHANC_STABLE_AGE,
                hospital_command=self._hospital_command(manage, ports),
                network=network,
                outside_ports=self._outside_ports(),
            )
            self.cluster.plan()
        except (ClusterError, OrthancServerError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Orthanc index: {said}")
        self.stdout.write(f"Network: {self.cluster.network_said}")
        if not no_demo_data:
            call_command("load_demo")
            call_command("open_cases")
        signal.signal(signal.SIGTERM, self._interrupt)
        signal.signal(signal.SIGINT, self._interrupt)
        signal.signal(signal.SIGHUP, self._interrupt)
        try:
            self._run_cluster(ports, manage, no_send)
        except KeyboardInterrupt:
            self.stdout.write("\nstopping the cluster…")
        finally:
            self.cluster.stop()
            if getattr(self, "archive", None):
                self.archive.stop()
            self.stdout.write("all stopped.")

    @staticmethod
    def _outside_ports() -> tuple[int, ...]:
        """What the nodes reach on 127.0.0.1 besides PostgreSQL and Redis: the demo hospitals'
        systems, where the reports go back (the demo's endpoints name 127.0.0.1)."""
        from urllib.parse import urlsplit

        db = settings.DATABASES["default"]
        redis = urlsplit(settings.REDIS_URL).port if getattr(settings, "REDIS_URL", "") else None
        ports = [int(db.get("PORT") or 5432), *HOSPITAL_PORTS.values(), ARCHIVE["dicom"]]
        return tuple(sorted({*ports, *([redis] if redis else [])}))

    def _hospital_command(self, manage, ports) -> list[str] | None:
        free = all(_port_free(p) for p in HOSPITAL_PORTS.values())
        if not free:
            self.stdout.write("the demo hospital systems' ports are taken: not starting them")
            return None
        return [
            *manage,
            "run_hospital_systems",
            *("--pacs-port", str(HOSPITAL_PORTS["pacs"])),
            *("--mllp-port", str(HOSPITAL_PORTS["mllp"])),
            *("--fhir-port", str(HOSPITAL_PORTS["fhir"])),
        ]

    def _run_cluster(self, ports: ClusterPorts, manage, no_send: bool) -> None:
        cluster = self.cluster
        cluster.start()
        log_dir = cluster.var / "log"
        self._wait_http(
            f"http://127.0.0.1:{ports.front_http}/healthz", "the front", log_dir / "front.log"
        )
        self.stdout.write(self.style.SUCCESS(self._cluster_banner(ports)))
        if _port_free(ARCHIVE["dicom"]) and _port_free(ARCHIVE["http"]):
            # Seoul North's archive sends priors to the front, which hands them to a node.
            front = SimpleNamespace(aet=settings.ORTHANC_AET, dicom_port=ports.front_dicom)
            self.archive = start_hospital_archive(front, log_dir)
        if not no_send:
            os.environ["ORTHANC_DICOM_PORT"] = str(ports.front_dicom)
            os.environ["HL7_LISTENER_PORT"] = str(ports.front_hl7)
            self._send_studies(manage)
        while True:
            for name in cluster.watch_once():
                part = cluster.parts[name]
                self.stdout.write(
                    f"{time.strftime('%H:%M:%S')} {name} had stopped "
                    f"(exit {part.last_exit}); restarted "
                    f"(restart {part.restarts}; log {part.log})"
                )
            time.sleep(0.2)

    def _cluster_banner(self, ports: ClusterPorts) -> str:
        parts = "\n".join(
            f"    {name:<11} pid {part.process.pid:<8} log {part.log}"
            for name, part in self.cluster.parts.items()
            if part.process
        )
        return f"""
The reading center cluster is running. Ctrl-C stops it.

  Front (haproxy)   http://127.0.0.1:{ports.front_http}/  -> web nodes {ports.web}
                    DICOM C-STORE to {settings.ORTHANC_AET}@127.0.0.1:{ports.front_dicom}
                    -> Orthanc nodes {ports.orthanc_dicom}
                    HL7 orders (MLLP) to 127.0.0.1:{ports.front_hl7} -> listeners {ports.hl7}
  Orthanc nodes     REST {ports.orthanc_http}, one PostgreSQL index
  Network           {self.cluster.network_said}
  Parts (restarted when they die; state in {self.cluster.var / "parts.json"}):
{parts}
"""
