"""send_studies plays a hospital: synthetic studies over real C-STORE into a real Orthanc."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def _send(*args: str) -> dict:
    out = io.StringIO()
    call_command("send_studies", *args, "--json", stdout=out, stderr=io.StringIO())
    return json.loads(out.getvalue())


def _studies_of(summary: dict) -> list:
    return summary["studies"]


@pytest.mark.parametrize("sender", ["pynetdicom", "storescu"])
def test_synthetic_studies_and_their_late_series_arrive(orthanc, sender):
    summary = _send("--aet", "ALPHA_CT", "--synthetic", "3", "--kind", "mixed", "--slices", "4",
                    "--seed", "7", "--late-series-after", "0", "--sender", sender)  # fmt: skip
    assert summary["seed"] == 7 and len(summary["studies"]) == 3
    assert summary["late_series_instances"] > 0
    assert summary["sent"] == summary["instances"] and summary["failed"] == 0
    assert {s["accession_number"][:4] for s in summary["studies"]} == {"ALPH"}
    stored = orthanc.client().get_json("/instances")
    assert len(stored) == summary["instances"]


def test_a_seed_replays_the_same_studies(orthanc):
    args = ("--aet", "ALPHA_CT", "--synthetic", "2", "--slices", "3", "--seed", "11")
    first, again = _send(*args), _send(*args)
    assert _studies_of(first) == _studies_of(again)
    assert first["findings"] == again["findings"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--synthetic", "0"), "--synthetic needs at least 1 study"),
        (("--synthetic", "1", "--finding-rate", "1.5"), "--finding-rate is a fraction"),
        (("--synthetic", "1", "--slices", "2"), "--slices must be at least 3"),
        (("--synthetic", "1", "--accession-prefix", "TOOLONGPFX"), "at most 8 characters"),
    ],
)
def test_bad_options_are_refused_before_anything_is_sent(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("send_studies", "--aet", "ALPHA_CT", *args, "--port", "1",
                     stdout=io.StringIO(), stderr=io.StringIO())  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_orders_go_over_hl7_in_the_hospitals_charset_and_priors_into_its_archive(
    orthanc_factory, hospital_a, settings, tmp_path
):
    """As `make demo` sends: each order an ORM^O01 to our listener (KS X 1001 for a Korean
    hospital), each patient's earlier studies into the hospital's own PACS first."""
    from readingcenter.hl7intake.listener import Listener
    from readingcenter.hl7intake.models import InboundMessage
    from readingcenter.hospitals.models import HospitalHL7Facility
    from readingcenter.pacs.orthanc_server import OrthancConfig, OrthancProcess, free_port
    from readingcenter.studies.models import Order

    HospitalHL7Facility.objects.create(hospital=hospital_a, sending_facility="ALPHA_RIS",
                                       default_charset="KS X 1001")  # fmt: skip
    archive_config = OrthancConfig(
        directory=tmp_path / "archive",
        http_port=free_port(),
        dicom_port=free_port(),
        aet="ALPHA_PACS",
    )
    archive = OrthancProcess(archive_config).start()
    orthanc = orthanc_factory()
    listener = Listener("127.0.0.1", 0)
    listener.start_in_thread()
    settings.HL7_LISTENER_PORT = listener.port
    try:
        archive_at = f"ALPHA_PACS@127.0.0.1:{archive_config.dicom_port}"
        summary = _send("--aet", "ALPHA_CT", "--synthetic", "2", "--kind", "head-ct",
                        "--slices", "3", "--seed", "5", "--orders", "--orders-via", "hl7",
                        "--priors-to", archive_at)  # fmt: skip
        assert summary["orders"] == {"created": 2, "failed": 0, "skipped": False}
        accessions = {s["accession_number"] for s in summary["studies"]}
        assert set(Order.objects.values_list("accession_number", flat=True)) == accessions
        assert set(InboundMessage.objects.values_list("charset", "ack_code")) == {
            ("KS X 1001", "AA")
        }
        patients = {s["patient_id"] for s in summary["studies"]}
        held = archive.client().get_json("/patients?expand")
        assert {p["MainDicomTags"]["PatientID"] for p in held} == patients
        assert len(orthanc.client().get_json("/studies")) == 2  # the priors went elsewhere
    finally:
        listener.shutdown()
        listener.server_close()
        archive.stop(kill=True)
