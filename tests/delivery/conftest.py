"""Signed reports to deliver, and the hospital-side peers that receive them.

The document is what the reports app hands to delivery: a Korean patient written in both
scripts, Korean and Chinese in the text (only UTF-8 carries all of it), the HL7 delimiters in
the findings (they must arrive escaped and come back intact), a confirmed AI finding and a
critical finding.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil

import pytest

from readingcenter.delivery.document import (
    AIFinding,
    CodedConcept,
    CriticalFinding,
    ReportDocument,
)
from simulator.hospital_systems import FhirServer as FHIRReceiver
from simulator.hospital_systems import InterfaceEngine as MLLPListener
from simulator.hospital_systems import (  # noqa: F401 - tests import them here
    Pacs,
    ack_for,
    free_port,
    wait_for_listener,
)

SIGNED_AT = dt.datetime(2025, 3, 14, 9, 26, 53, tzinfo=dt.UTC)  # 18:26:53 in Seoul
FINDINGS = (
    "좌측 전두엽 경막하 출혈, 두께 8 mm.\n"
    "Acute left frontal subdural hemorrhage, 8 mm thick; midline shift 3 mm.\n"
    "Delimiters kept as written: A|B ^ C&D ~ E\\F."
)
IMPRESSION = "급성 경막하 출혈. Acute subdural hemorrhage with mass effect; neurosurgery advised."

needs_dcmtk = pytest.mark.skipif(shutil.which("storescp") is None, reason="dcmtk not installed")
needs_dciodvfy = pytest.mark.skipif(
    shutil.which("dciodvfy") is None, reason="dicom3tools not installed"
)

AI_ICH = AIFinding(
    finding="ich",
    label="intracranial hemorrhage",
    code=CodedConcept("1386000", "Intracranial hemorrhage"),
    probability=0.934,
    threshold=0.5,
    model_name="head-ct-ich",
    model_version="1.0.0",
    weights_sha256="9f2c" + "0" * 60,
    confirmed=True,
)


def build_document(status: str = "final", **overrides) -> ReportDocument:
    """A signed report of study 1.2.826.0.1.3680043.10.1138.7 in one of its three versions."""
    version = {"preliminary": 1, "final": 2, "amended": 3}[status]
    values = {
        "report_id": 42,
        "version_number": version,
        "status": status,
        "replaces_version": version - 1 or None,
        "idempotency_key": f"report-42-v{version}",
        "uid_root": "1.2.826.0.1.3680043.10.1138",
        "hospital_name": "서울북부병원 Seoul North Hospital",
        "hospital_code": "seoulnorth",
        "hospital_time_zone": "Asia/Seoul",
        "study_instance_uid": "1.2.826.0.1.3680043.10.1138.9.20250314.1",
        "accession_number": "SN-2025-0001",
        "patient_id": "SN00012345",
        "patient_name": "Kim^Jisoo=김^지수",
        "patient_birth_date": dt.date(1961, 5, 2),
        "patient_sex": "F",
        "study_date": dt.date(2025, 3, 14),
        "study_time": dt.time(17, 58, 11),
        "study_description": "CT HEAD W/O CONTRAST",
        "modality": "CT",
        "referring_physician_name": "Park^Minho=朴^敏浩",
        "study_id": "7731",
        "requested_procedure": "CT brain, non-contrast",
        "clinical_history": "두통, 구토 (headache, vomiting). 头痛. Fall yesterday.",
        "technique": "Axial non-contrast CT of the head, 5 mm slices.",
        "comparison": "None available.",
        "findings": FINDINGS,
        "impression": IMPRESSION,
        "addendum_text": "",
        "critical_findings": (
            CriticalFinding("Acute subdural hemorrhage with midline shift", "minutes"),
        ),
        "ai_findings": (AI_ICH,),
        "signed_by_name": "Lee Seoyeon, MD",
        "signed_by_username": "dr.lee",
        "signed_at": SIGNED_AT + dt.timedelta(minutes=10 * version),
        "signature_meaning": {
            "preliminary": "preliminary report",
            "final": "final report",
            "amended": "addendum",
        }[status],
        "content_sha256": "3b4f" + "a1" * 30,
        "reading_center_name": "Hanbit Teleradiology Reading Center",
    }
    if status == "amended":
        values["addendum_text"] = (
            "추가: 우측 소량 경막하 출혈도 있음. Addendum: a small right subdural "
            "hemorrhage is also present."
        )
    values.update(overrides)
    return ReportDocument(**values)


@pytest.fixture
def report_document():
    """``report_document(status="final", **fields)``: build a signed report to deliver."""
    return build_document


def with_ai(doc: ReportDocument, **changes) -> ReportDocument:
    return dataclasses.replace(doc, ai_findings=(dataclasses.replace(AI_ICH, **changes),))


# -- peers: the hospital simulator's receiving systems ------------------------------------------
@pytest.fixture
def hospital_pacs(tmp_path):
    """dcmtk's storescp as the hospital's PACS (AE SEOULNORTH_PACS): (port, folder)."""
    pacs = Pacs(ae_title="SEOULNORTH_PACS", folder=tmp_path / "hospital-pacs").start()
    yield pacs.port, pacs.folder
    pacs.stop()


@pytest.fixture
def mllp_listener():
    listeners: list[MLLPListener] = []

    def start(answer=None) -> MLLPListener:
        listener = MLLPListener(answer or (lambda message: ack_for(message)))
        listeners.append(listener)
        return listener

    yield start
    for listener in listeners:
        listener.close()


def created(method, path, headers, body):
    return 201, {"Location": "http://hospital.example/fhir/DiagnosticReport/dr-77/_history/1"}, None


@pytest.fixture
def fhir_receiver():
    receivers: list[FHIRReceiver] = []

    def start(answer=created) -> FHIRReceiver:
        receiver = FHIRReceiver(answer)
        receivers.append(receiver)
        return receiver

    yield start
    for receiver in receivers:
        receiver.close()
