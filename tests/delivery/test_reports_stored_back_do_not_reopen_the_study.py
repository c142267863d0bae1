"""Our SR and PDF, kept in our Orthanc's copy of the study, are ours: the study stays read.

Storing them makes Orthanc see the study change and, after StableAge, announce it stable
again. The follower must count them as the reading center's own series (Origin RestApi):
no new version, no re-opening, no second triage.
"""

from __future__ import annotations

import time

import pytest
from procrastinate.contrib.django.models import ProcrastinateJob

from readingcenter.delivery.channels import send_dicom
from readingcenter.delivery.formats.pdf import render_pdf
from readingcenter.studies.ingest import follow_until_idle, sweep
from readingcenter.studies.models import Study
from tests.delivery.conftest import needs_dcmtk
from tests.pacs.dicom_files import FLAIR, c_store, follow_until, new_study
from triage.models import TriageRun


def _stable_again(client, orthanc_id: str, since: int, timeout: float = 30.0) -> None:
    """Wait for Orthanc to log the study stable after ``since`` (that is, past StableAge)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = client.changes(since=since, limit=1000)
        if any(c["ChangeType"] == "StableStudy" and c["ID"] == orthanc_id for c in page.changes):
            return
        time.sleep(0.2)
    raise AssertionError("Orthanc never announced the study stable again")


@needs_dcmtk
@pytest.mark.django_db
def test_sending_a_report_back_changes_neither_the_study_nor_its_triage(
    orthanc, hospital_a, hospital_pacs, report_document, tmp_path
):
    uid, files = new_study(FLAIR[:3], tmp_path / "study", AccessionNumber="ALPHA-9")
    c_store(files, port=orthanc.config.dicom_port, calling_aet="ALPHA_CT")
    study = follow_until(
        lambda: Study.objects.filter(study_instance_uid=uid, status="complete").first()
    )
    before = {
        "version": study.version,
        "status": study.status,
        "series": study.series_count,
        "instances": study.instance_count,
        "completed_at": study.completed_at,
        "events": list(study.events.values_list("kind", flat=True)),
    }
    jobs = ProcrastinateJob.objects.count()
    triage_runs = TriageRun.objects.count()
    client = orthanc.client()
    last_seq = client.changes(since=0, limit=0).last

    doc = report_document(
        "final",
        study_instance_uid=uid,
        patient_id=study.patient_id,
        patient_name=study.patient_name,
        accession_number="ALPHA-9",
        hospital_code="alpha",
    )
    port, _ = hospital_pacs
    receipt = send_dicom(
        doc, ae_title="ALPHA_PACS", host="127.0.0.1", port=port, pdf=render_pdf(doc)
    )
    orthanc_ids = {item["orthanc_id"] for item in receipt.detail["instances"].values()}

    follow_until_idle()  # the new series, before StableAge
    _stable_again(client, study.orthanc_id, since=last_seq)
    follow_until_idle()  # and the StableStudy after it
    assert sweep() == 0

    study.refresh_from_db()
    after = {
        "version": study.version,
        "status": study.status,
        "series": study.series_count,
        "instances": study.instance_count,
        "completed_at": study.completed_at,
        "events": list(study.events.values_list("kind", flat=True)),
    }
    assert after == before
    assert ProcrastinateJob.objects.count() == jobs
    assert TriageRun.objects.count() == triage_runs
    # The follower knows the two series, as the reading center's own.
    own = study.series.filter(is_own=True)
    assert own.count() == 2
    assert not study.series.filter(is_own=False, modality__in=["SR", "DOC"]).exists()
    # And our copies are still in Orthanc, in the study.
    kept = {item["ID"] for item in client.get_json(f"/studies/{study.orthanc_id}/instances")}
    assert orthanc_ids <= kept
