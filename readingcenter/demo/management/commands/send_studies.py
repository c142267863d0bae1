"""Play a regional hospital: send studies to the reading center over DICOM C-STORE.

manage.py send_studies --aet SEOULNORTH_CT --folder ../shared/dicom/mr-brain-flair
manage.py send_studies --aet SEOULNORTH_CT --synthetic 20 --kind mixed --orders --seed 7
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from simulator.sender import (
    SendError,
    SendResult,
    load_folder,
    send_datasets,
    send_with_storescu,
)
from simulator.synthetic import SyntheticStudy, make_study

KIND_CHOICES = ("head-ct", "chest-xr", "mr-brain", "mixed")
# What a regional hospital's teleradiology traffic roughly looks like.
MIXED_WEIGHTS = {"head-ct": 0.45, "chest-xr": 0.4, "mr-brain": 0.15}
INSTANCES_PER_SLICE = {"head-ct": 1, "mr-brain": 3}  # MR: T1, T2 and FLAIR series


class Progress:
    """``[####....] 120/400 instances 310/s`` in place on a terminal, plain lines in CI logs."""

    def __init__(self, out, total: int, *, enabled: bool = True):
        self.out = out
        self.total = max(total, 1)
        self.enabled = enabled
        self.tty = enabled and out.isatty()
        self.started = time.perf_counter()
        self.last_draw = 0.0
        self.last_line_fraction = 0.0
        self.done = 0

    def _line(self) -> str:
        elapsed = time.perf_counter() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        filled = int(30 * self.done / self.total)
        bar = "#" * filled + "." * (30 - filled)
        return f"[{bar}] {self.done}/{self.total} instances {rate:.0f}/s"

    def update(self, done: int) -> None:
        self.done = done
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.tty:
            if now - self.last_draw >= 0.1 or done >= self.total:
                self.out.write("\r" + self._line(), ending="")
                self.out.flush()
                self.last_draw = now
            return
        # Without a terminal, a line per tenth of the way (or every 5 s) keeps logs readable.
        fraction = done / self.total
        if fraction - self.last_line_fraction >= 0.1 or now - self.last_draw >= 5.0:
            self.out.write(self._line())
            self.last_line_fraction = fraction
            self.last_draw = now

    def finish(self) -> None:
        if self.enabled and self.tty:
            self.out.write("\r" + self._line())


def _check_synthetic_options(options: dict) -> None:
    if options["synthetic"] < 1:
        raise CommandError("--synthetic needs at least 1 study.")
    if not 0.0 <= options["finding_rate"] <= 1.0:
        raise CommandError("--finding-rate is a fraction between 0 and 1.")
    if options["slices"] < 3:
        raise CommandError("--slices must be at least 3 (a lesion spans several slices).")


def _synthetic_kinds(kind: str, count: int, rng: np.random.Generator) -> list[str]:
    """``count`` study kinds: all ``kind``, or drawn by MIXED_WEIGHTS for "mixed"."""
    if kind == "mixed":
        names = list(MIXED_WEIGHTS)
        return [str(k) for k in rng.choice(names, size=count, p=list(MIXED_WEIGHTS.values()))]
    return [kind] * count


def _merge(total: SendResult, part: SendResult) -> None:
    total.total += part.total
    total.sent += part.sent
    total.warnings += part.warnings
    total.failed += part.failed
    total.failures.extend(part.failures)
    total.elapsed += part.elapsed
    total.associations += part.associations


def _readable_name(pn: str) -> str:
    family, _, rest = pn.split("=")[0].partition("^")
    given = rest.split("^")[0]
    return f"Dr {given} {family}".strip()


class Command(BaseCommand):
    help = (
        "Send studies to the reading center over DICOM C-STORE as a hospital would: files from "
        "a folder, or synthetic head CTs, chest X-rays and brain MRs (optionally with orders)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--aet", required=True, help="calling AE title: the hospital's")
        parser.add_argument("--host", default="127.0.0.1", help="receiver host (127.0.0.1)")
        parser.add_argument(
            "--port", type=int, default=None, help="receiver DICOM port (ORTHANC_DICOM_PORT)"
        )
        parser.add_argument("--called-aet", default=None, help="receiver AE title (ORTHANC_AET)")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--folder", help="send every DICOM file under this folder")
        source.add_argument("--synthetic", type=int, metavar="N", help="send N synthetic studies")
        parser.add_argument("--kind", choices=KIND_CHOICES, default="mixed")
        parser.add_argument("--slices", type=int, default=20, help="slices per CT/MR series")
        parser.add_argument(
            "--finding-rate",
            type=float,
            default=0.3,
            help="fraction of synthetic studies with a finding (bleed, pneumothorax, lesion)",
        )
        parser.add_argument(
            "--seed", type=int, default=None, help="replay the same studies (UIDs included)"
        )
        parser.add_argument(
            "--accession-prefix",
            default=None,
            help="accession number prefix, up to 8 characters (default: from the AE title)",
        )
        parser.add_argument(
            "--compress", action="store_true", help="send synthetic images as RLE Lossless"
        )
        parser.add_argument(
            "--late-series-after",
            type=float,
            default=None,
            metavar="SECONDS",
            help="after sending, wait this long and send one more series for every study",
        )
        parser.add_argument(
            "--orders",
            action="store_true",
            help="also create each synthetic study's order, as the hospital's system would",
        )
        parser.add_argument(
            "--priors-to",
            default=None,
            metavar="AET@HOST:PORT",
            help="first store 1-2 earlier studies of each synthetic patient (1-4 years old) in "
            "the hospital's own PACS there, as its archive holds them: the reading center "
            "fetches them as priors",
        )
        parser.add_argument(
            "--orders-via",
            choices=("api", "hl7"),
            default="api",
            help="hl7: send each order as an HL7 ORM^O01 over MLLP to the reading center's "
            "listener (HL7_LISTENER_PORT), in the hospital's character set, as its RIS would",
        )
        parser.add_argument(
            "--sender",
            choices=("pynetdicom", "storescu"),
            default="pynetdicom",
            help="storescu: dcmtk's, with TCP_NODELAY=1 (for benchmarks)",
        )
        parser.add_argument("--timeout", type=float, default=30.0, help="network timeout (s)")
        parser.add_argument(
            "--json", action="store_true", help="print a machine-readable summary on stdout"
        )

    def handle(self, *args, **options) -> None:
        # Progress is not an error: keep it out of the red the stderr wrapper paints.
        self.stderr.style_func = None
        # pynetdicom logs every PDU at INFO and every failure at ERROR; the command reports
        # both itself, so its log only shows on request (-v 2 warnings, -v 3 everything).
        level = {2: logging.WARNING, 3: logging.INFO}.get(options["verbosity"], logging.CRITICAL)
        logging.getLogger("pynetdicom").setLevel(level)
        self.options = options
        self.host = options["host"]
        self.port = options["port"] or getattr(settings, "ORTHANC_DICOM_PORT", 4242)
        self.called_aet = options["called_aet"] or getattr(settings, "ORTHANC_AET", "ORTHANC")
        self.aet = options["aet"].strip()
        self.result = SendResult()
        self.progress_enabled = options["verbosity"] > 0
        summary: dict = {
            "calling_aet": self.aet,
            "called_aet": self.called_aet,
            "host": self.host,
            "port": self.port,
        }
        try:
            if options["folder"]:
                summary.update(self._send_folder(options["folder"]))
            else:
                summary.update(self._send_synthetic(options))
        except SendError as exc:
            if exc.result is not None:
                _merge(self.result, exc.result)
            self._finish(summary)
            raise CommandError(str(exc)) from None
        self._finish(summary)
        if self.result.failed:
            reasons = sorted({f.reason for f in self.result.failures})
            raise CommandError(
                f"{self.result.failed} of {self.result.total} instances were not stored: "
                + "; ".join(reasons[:5])
            )

    # ----------------------------------------------------------------------------------------

    def _send(self, datasets, progress: Progress, offset: int) -> None:
        send = send_with_storescu if self.options["sender"] == "storescu" else send_datasets
        part = send(
            datasets,
            host=self.host,
            port=self.port,
            calling_aet=self.aet,
            called_aet=self.called_aet,
            progress=lambda done, _total: progress.update(offset + done),
            timeout=self.options["timeout"],
        )
        _merge(self.result, part)

    def _send_folder(self, folder: str) -> dict:
        try:
            datasets = load_folder(folder)
        except OSError as exc:
            raise CommandError(f"Cannot read {folder}: {exc}") from None
        for path, why in datasets.skipped[:10]:
            self.stderr.write(f"skipped {path}: {why}")
        if len(datasets.skipped) > 10:
            self.stderr.write(f"... and {len(datasets.skipped) - 10} more files skipped")
        if not datasets:
            raise CommandError(f"No DICOM files under {folder}.")
        if self.options["orders"]:
            self.stderr.write("--orders applies to --synthetic studies only; no orders created.")
        progress = Progress(self.stderr, len(datasets), enabled=self.progress_enabled)
        try:
            self._send(datasets, progress, 0)
        finally:
            progress.finish()
        studies = sorted({str(ds.get("StudyInstanceUID", "")) for ds in datasets})
        return {"folder": str(folder), "skipped": len(datasets.skipped), "study_uids": studies}

    def _send_synthetic(self, options: dict) -> dict:
        _check_synthetic_options(options)
        count = options["synthetic"]
        # Without --seed every run sends new studies; the seed is reported so a run can be
        # replayed (same UIDs: the receiver then sees the same instances again).
        seed = options["seed"]
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % 2**32)
        rng = np.random.default_rng(seed)
        prefix = self._accession_prefix(options["accession_prefix"])
        kinds = _synthetic_kinds(options["kind"], count, rng)
        findings = [bool(f) for f in rng.random(count) < options["finding_rate"]]
        slices = options["slices"]
        total = sum(INSTANCES_PER_SLICE.get(k, 0) * slices or 1 for k in kinds)

        hospital, institution = self._hospital() if options["orders"] else (None, None)
        orders = {"created": 0, "failed": 0, "skipped": not bool(hospital)}
        progress = Progress(self.stderr, total, enabled=self.progress_enabled)
        studies: list[SyntheticStudy] = []
        try:
            for kind, finding in zip(kinds, findings, strict=True):
                study = make_study(
                    kind,
                    rng=rng,
                    finding=finding,
                    accession_prefix=prefix,
                    institution_name=institution or "Regional General Hospital",
                    slices=slices,
                    compress=options["compress"],
                )
                studies.append(study)
                if options["priors_to"]:
                    self._store_priors(study, kind, rng, options)
                if hospital is not None:
                    # The order goes first, as a hospital's RIS places it before imaging.
                    ok = self._create_order(hospital, study)
                    orders["created" if ok else "failed"] += 1
                self._send(study.datasets, progress, self.result.total)
        finally:
            progress.finish()

        late = 0
        if options["late_series_after"] is not None and studies:
            late = self._send_late_series(studies, options["late_series_after"])
        return {
            "seed": seed,
            "kind": options["kind"],
            "studies": [s.summary() for s in studies],
            "findings": sum(s.finding for s in studies),
            "late_series_instances": late,
            "orders": orders if options["orders"] else None,
        }

    def _store_priors(self, study: SyntheticStudy, kind: str, rng, options) -> None:
        """The patient's earlier studies, into the hospital's own PACS (not to us)."""
        aet, _, address = options["priors_to"].partition("@")
        host, _, port = address.rpartition(":")
        if not (aet and host and port.isdigit()):
            raise CommandError(f"--priors-to {options['priors_to']!r}: expected AET@HOST:PORT")
        for years in sorted(rng.uniform(1, 4, int(rng.integers(1, 3))), reverse=True):
            when = dt.datetime.now() - dt.timedelta(days=int(365 * years))
            prior = make_study(kind, rng=rng, finding=False, patient=study.header.patient,
                               study_datetime=when, slices=options["slices"],
                               institution_name=study.header.institution_name)  # fmt: skip
            part = send_datasets(prior.datasets, host=host, port=int(port), calling_aet=self.aet,
                                 called_aet=aet, progress=lambda done, total: None,
                                 timeout=self.options["timeout"])  # fmt: skip
            if part.failed:
                self.stderr.write(f"{part.failed} prior instance(s) not stored in {aet}")

    def _accession_prefix(self, prefix: str | None) -> str:
        """--accession-prefix, or one made from the calling AE title (at most 8 characters)."""
        if prefix is None:
            prefix = re.sub(r"[^A-Z0-9]", "", self.aet.upper())[:4] or "RGH"
        if len(prefix) > 8:
            raise CommandError("--accession-prefix is at most 8 characters.")
        return prefix

    def _send_late_series(self, studies: list[SyntheticStudy], after: float) -> int:
        """After a pause, one more series for every study sent; returns how many instances."""
        self.stderr.write(f"waiting {after:g} s before late series")
        time.sleep(after)
        new = [ds for study in studies for ds in study.add_series()]
        progress = Progress(self.stderr, len(new), enabled=self.progress_enabled)
        try:
            self._send(new, progress, 0)
        finally:
            progress.finish()
        return len(new)

    def _hospital(self):
        from django.db import DatabaseError

        from readingcenter.hospitals.selectors import hospital_for_ae_title

        try:
            hospital = hospital_for_ae_title(self.aet)
        except DatabaseError as exc:
            raise CommandError(
                f"Cannot look up the hospital for --orders: the database is unavailable ({exc}). "
                "Start it (`make demo`) or send without --orders."
            ) from None
        if hospital is None:
            self.stderr.write(
                f"No active hospital sends from AE title {self.aet!r}: orders are skipped (the "
                "studies will be quarantined as from an unknown sender). Register the AE title "
                "with the hospital first (e.g. `make demo` loads the demo hospitals)."
            )
            return None, None
        return hospital, hospital.name

    def _create_order(self, hospital, study: SyntheticStudy) -> bool:
        if self.options.get("orders_via") == "hl7":
            return self._send_order_hl7(hospital, study)
        return self._create_order_api(hospital, study)

    def _send_order_hl7(self, hospital, study: SyntheticStudy) -> bool:
        from django.conf import settings
        from hl7.client import MLLPClient

        from simulator.hl7_orders import CODECS, OrderMessage

        facility = hospital.hl7_facilities.first()
        if facility is None:
            self.stderr.write(f"{hospital.code} has no HL7 facility: order not sent")
            return False
        groups = [g for g in study.header.patient.name.split("=") if g]
        codec = CODECS.get(facility.default_charset, "utf-8")
        message = None
        for group in reversed(groups):  # the ideographic name where the charset can carry it
            family, _, given = group.partition("^")
            candidate = OrderMessage(
                facility=facility.sending_facility, control_id=f"ORD{study.accession_number}",
                accession_number=study.accession_number, patient_id=study.patient_id,
                patient_family=family, patient_given=given,
                procedure=study.header.requested_procedure,
                priority={"stat": "S", "urgent": "A"}.get(study.priority, "R"),
                clinical_history=study.clinical_history, charset=facility.default_charset,
            )  # fmt: skip
            try:
                payload = candidate.encoded()
            except UnicodeEncodeError:
                continue
            message = candidate
            break
        if message is None:
            self.stderr.write(f"order {study.accession_number}: name not in the hospital charset")
            return False
        try:
            host, port = settings.HL7_LISTENER_HOST, settings.HL7_LISTENER_PORT
            with MLLPClient(host, port, encoding=codec) as client:
                ack = client.send_message(payload)
        except OSError as exc:
            self.stderr.write(
                f"order {study.accession_number} not sent: the HL7 listener at "
                f"{settings.HL7_LISTENER_HOST}:{settings.HL7_LISTENER_PORT} is not answering "
                f"({exc}); start it (`manage.py run_hl7_listener`, or `make demo`)"
            )
            return False
        if isinstance(ack, bytes):  # the hl7 client answers bytes when it was given bytes
            ack = ack.decode(codec, errors="replace")
        if "MSA|AA|" not in ack:
            self.stderr.write(f"order {study.accession_number} refused: {ack!r}")
            return False
        return True

    def _create_order_api(self, hospital, study: SyntheticStudy) -> bool:
        from django.core.exceptions import ValidationError
        from django.db import IntegrityError

        from readingcenter.errors import DomainError
        from readingcenter.studies.services import order_create

        try:
            order_create(
                hospital=hospital,
                actor=None,
                accession_number=study.accession_number,
                requested_procedure=study.header.requested_procedure,
                priority=study.priority,
                clinical_history=study.clinical_history,
                referring_physician=_readable_name(study.header.referring_physician),
                callback_phone=study.header.callback_phone,
                patient_id=study.patient_id,
            )
        except (DomainError, ValidationError, IntegrityError) as exc:
            self.stderr.write(f"order {study.accession_number} not created: {exc}")
            return False
        return True

    def _finish(self, summary: dict) -> None:
        r = self.result
        summary.update(
            {
                "sender": self.options["sender"],
                "instances": r.total,
                "sent": r.sent,
                "warnings": r.warnings,
                "failed": r.failed,
                "associations": r.associations,
                "send_seconds": round(r.elapsed, 3),
                "instances_per_second": round(r.rate, 1),
                "failures": [
                    {"sop_instance_uid": f.sop_instance_uid, "status": f.status, "reason": f.reason}
                    for f in r.failures[:100]
                ],
            }
        )
        if self.options["json"]:
            self.stdout.write(json.dumps(summary, indent=2, ensure_ascii=False))
        if self.options["verbosity"] == 0:
            return
        studies = summary.get("studies")
        what = f" in {len(studies)} studies" if studies else ""
        line = (
            f"Sent {r.sent}/{r.total} instances{what} to {self.called_aet} at "
            f"{self.host}:{self.port} as {self.aet} in {r.elapsed:.1f} s ({r.rate:.0f}/s)"
        )
        if studies:
            line += f"; {summary['findings']} with a finding; seed {summary['seed']}"
        orders = summary.get("orders")
        if orders and not orders["skipped"]:
            line += f"; orders created {orders['created']}, failed {orders['failed']}"
        if r.failed:
            line += f"; {r.failed} failed"
        self.stderr.write(line)
