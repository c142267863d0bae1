"""Play the demo hospitals' receiving systems: a PACS, an HL7 interface engine, a FHIR server.

`make demo` starts this next to the reading center, and fixtures/demo.json points the demo
hospitals' delivery endpoints at it, so a report signed in the demo really travels: as DICOM
SR + PDF into a storescp PACS, as an ORU^R01 over MLLP, as a FHIR DiagnosticReport. What
arrives is written under var/hospital/ and logged, one line per message.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import hl7
from django.conf import settings
from django.core.management.base import BaseCommand

from simulator.hospital_systems import FhirServer, InterfaceEngine, Pacs


class Command(BaseCommand):
    help = "Run a demo hospital's PACS (storescp), HL7 interface engine and FHIR server."

    def add_arguments(self, parser):
        parser.add_argument("--pacs-port", type=int, default=11112)
        parser.add_argument("--pacs-aet", default="HOSPITAL_PACS")
        parser.add_argument("--mllp-port", type=int, default=2575)
        parser.add_argument("--fhir-port", type=int, default=8090)
        parser.add_argument("--folder", default=str(Path(settings.VAR_DIR) / "hospital"))

    def handle(self, *args, pacs_port, pacs_aet, mllp_port, fhir_port, folder, **options):
        folder = Path(folder)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())

        def said_hl7(message: str, ack: str) -> None:
            obr = hl7.parse(message).segment("OBR")
            status = {"P": "preliminary", "F": "final", "C": "corrected"}.get(str(obr[25]), "?")
            self.stdout.write(f"HL7  ORU^R01 accession {obr[3]} ({status}) -> ACK {ack[-20:]!r}")

        def said_fhir(record: dict, status: int) -> None:
            condition = record["headers"].get("If-None-Exist", "")
            self.stdout.write(f"FHIR POST {record['path']} {condition} -> {status}")

        pacs = Pacs(ae_title=pacs_aet, folder=folder / "pacs", port=pacs_port,
                    log=folder / "storescp.log")  # fmt: skip
        folder.mkdir(parents=True, exist_ok=True)
        pacs.start()
        engine = InterfaceEngine(port=mllp_port, folder=folder / "hl7", on_message=said_hl7)
        fhir = FhirServer(port=fhir_port, folder=folder / "fhir", on_request=said_fhir)
        self.stdout.write(
            f"hospital systems up: PACS {pacs_aet}@127.0.0.1:{pacs.port}, "
            f"MLLP 127.0.0.1:{engine.port}, FHIR {fhir.base_url}; received under {folder}"
        )
        try:
            seen = 0
            while not stop.wait(1):
                received = pacs.received()
                for path in received[seen:]:
                    self.stdout.write(f"PACS stored {path.name}")
                seen = len(received)
        finally:
            engine.stop()
            fhir.stop()
            pacs.stop()
