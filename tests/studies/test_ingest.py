"""A hospital sends through Orthanc; the study arrives, complete, exactly once."""

from __future__ import annotations

import time

import pydicom
import pytest
from procrastinate.contrib.django.models import ProcrastinateJob

from readingcenter.pacs.models import IngestCursor
from readingcenter.pacs.orthanc import OrthancError
from readingcenter.studies.ingest import follow_once, follow_until_idle, sweep
from readingcenter.studies.models import Study, StudyEvent
from tests.conftest import api_as
from tests.pacs.dicom_files import BBMRI, FLAIR, c_store, charset_file, follow_until, new_study


def _complete(uid: str, version: int = 1):
    return Study.objects.filter(study_instance_uid=uid, status="complete", version=version).first()


def _jobs(study: Study) -> list[dict]:
    return [
        job.args
        for job in ProcrastinateJob.objects.filter(task_name="studies.study_completed")
        if job.args["study_id"] == study.id
    ]


def test_a_study_sent_from_a_known_ae_arrives_complete_with_its_hospital_and_series(
    orthanc, hospital_a, tmp_path
):
    uid, files = new_study(FLAIR, tmp_path, AccessionNumber="ALPHA-1")
    c_store(files, port=orthanc.config.dicom_port, calling_aet="ALPHA_CT")
    study = follow_until(lambda: _complete(uid))
    assert study.hospital == hospital_a
    assert study.calling_ae_title == "ALPHA_CT"
    assert study.accession_number == "ALPHA-1"
    assert study.patient_name == "BRAINIX"
    assert study.modalities == ["MR"]
    assert (study.series_count, study.instance_count) == (1, len(FLAIR))
    series = study.series.get()
    assert series.instance_count == len(FLAIR)
    assert series.modality == "MR"
    assert study.completed_at >= study.received_at
    # Completion deferred exactly one job for this version, in the same transaction.
    assert _jobs(study) == [{"study_id": study.id, "version": 1}]


def test_the_same_study_sent_twice_yields_one_study(orthanc, hospital_a, tmp_path):
    uid, files = new_study(FLAIR[:5], tmp_path)
    c_store(files, port=orthanc.config.dicom_port, calling_aet="ALPHA_CT")
    follow_until(lambda: _complete(uid))
    c_store(files, port=orthanc.config.dicom_port, calling_aet="ALPHA_CT")
    time.sleep(orthanc.config.stable_age + 1.5)
    follow_until_idle()
    assert Study.objects.filter(study_instance_uid=uid).count() == 1
    study = Study.objects.get(study_instance_uid=uid)
    assert (study.version, study.instance_count) == (1, 5)
    assert len(_jobs(study)) == 1


def test_a_study_from_an_unknown_ae_is_quarantined_not_dropped_and_not_queued(
    orthanc, hospital_a, tmp_path, manager
):
    uid, files = new_study(FLAIR[:3], tmp_path)
    c_store(files, port=orthanc.config.dicom_port, calling_aet="STRANGER")
    study = follow_until(
        lambda: Study.objects.filter(study_instance_uid=uid, completed_at__isnull=False).first()
    )
    assert study.status == "quarantined"
    assert study.quarantine_reason == "unknown_sender"
    assert "STRANGER" in study.quarantine_detail
    assert study.hospital is None
    assert _jobs(study) == []
    # A manager sees why, assigns it to the right hospital, and it completes at once.
    response = api_as(manager).post(
        f"/api/v1/studies/{study.id}/assign-hospital/", {"hospital": "alpha"}, format="json"
    )
    assert response.status_code == 200, response.data
    assert response.data["status"] == "complete"
    study.refresh_from_db()
    assert len(_jobs(study)) == 1


def test_a_study_missing_the_patient_id_is_quarantined_with_the_reason(
    orthanc, hospital_a, tmp_path
):
    uid, files = new_study(FLAIR[:2], tmp_path, PatientID="")
    c_store(files, port=orthanc.config.dicom_port, calling_aet="ALPHA_CT")
    study = follow_until(lambda: Study.objects.filter(study_instance_uid=uid).first())
    assert study.status == "quarantined"
    assert study.quarantine_reason == "missing_data"
    assert "PatientID" in study.quarantine_detail


def test_a_late_series_reopens_and_recompletes_the_same_study(orthanc, hospital_a, tmp_path):
    uid, first = new_study(FLAIR[:4], tmp_path / "a")
    c_store(first, port=orthanc.config.dicom_port, calling_aet="ALPHA_CT")
    study = follow_until(lambda: _complete(uid))
    _, late = new_study(
        BBMRI[:3],
        tmp_path / "b",
        study_instance_uid=uid,
        PatientID=study.patient_id,
        PatientName=study.patient_name,
    )
    c_store(late, port=orthanc.config.dicom_port, calling_aet="ALPHA_CT")
    follow_until(lambda: Study.objects.filter(pk=study.pk, status="receiving").exists(), timeout=5)
    study = follow_until(lambda: _complete(uid, version=2))
    assert Study.objects.filter(study_instance_uid=uid).count() == 1
    assert (study.series_count, study.instance_count) == (2, 7)
    kinds = list(study.events.values_list("kind", flat=True))
    assert kinds.count("completed") == 2
    assert kinds.count("reopened") == 1
    assert [j["version"] for j in _jobs(study)] == [1, 2]


def test_orthanc_restarted_before_stable_age_still_ends_complete_through_the_sweep(
    orthanc_factory, hospital_a, tmp_path
):
    orthanc = orthanc_factory(stable_age=3)
    uid, files = new_study(FLAIR[:3], tmp_path / "files")
    c_store(files, port=orthanc.config.dicom_port, calling_aet="ALPHA_CT")
    follow_until(lambda: Study.objects.filter(study_instance_uid=uid).exists())
    # Killed before StableAge: Orthanc's in-memory stability tracking is gone with it.
    orthanc.stop(kill=True)
    restarted = orthanc_factory(
        stable_age=3,
        directory=orthanc.config.directory,
        http_port=orthanc.config.http_port,
        dicom_port=orthanc.config.dicom_port,
    )
    time.sleep(restarted.config.stable_age + 2)
    follow_until_idle()
    assert Study.objects.get(study_instance_uid=uid).status == "receiving", "no StableStudy came"
    assert sweep() == 1
    study = Study.objects.get(study_instance_uid=uid)
    assert study.status == "complete"
    assert study.events.filter(kind="completed", detail__reason="sweep").exists()
    assert len(_jobs(study)) == 1


def test_replaying_the_whole_feed_changes_nothing(orthanc, hospital_a, tmp_path):
    uid, files = new_study(FLAIR[:6], tmp_path)
    c_store(files, port=orthanc.config.dicom_port, calling_aet="ALPHA_CT")
    follow_until(lambda: _complete(uid))
    before = (Study.objects.count(), StudyEvent.objects.count(), ProcrastinateJob.objects.count())
    IngestCursor.objects.update(last_seq=0)
    follow_until_idle()
    after = (Study.objects.count(), StudyEvent.objects.count(), ProcrastinateJob.objects.count())
    assert after == before


def test_an_orthanc_database_reset_triggers_a_resync(orthanc_factory, hospital_a, tmp_path):
    orthanc = orthanc_factory()
    uid_a, files_a = new_study(FLAIR[:20], tmp_path / "a")
    c_store(files_a, port=orthanc.config.dicom_port, calling_aet="ALPHA_CT")
    follow_until(lambda: _complete(uid_a))
    cursor_before = IngestCursor.objects.get().last_seq
    # A fresh Orthanc database behind the same URL: its change log starts again from zero.
    orthanc.stop()
    fresh = orthanc_factory(
        directory=tmp_path / "fresh",
        http_port=orthanc.config.http_port,
        dicom_port=orthanc.config.dicom_port,
    )
    uid_b, files_b = new_study(FLAIR[:2], tmp_path / "b")
    c_store(files_b, port=fresh.config.dicom_port, calling_aet="ALPHA_CT")
    time.sleep(fresh.config.stable_age + 1.5)
    follow_until(lambda: _complete(uid_b))
    cursor = IngestCursor.objects.get()
    assert cursor.resyncs == 1
    assert cursor.last_seq < cursor_before
    assert _complete(uid_a) is not None  # what we had is kept


def test_an_order_that_arrives_first_is_matched_when_its_study_arrives(
    orthanc, hospital_a, hospital_user_a, tmp_path
):
    response = api_as(hospital_user_a).post(
        "/api/v1/orders/",
        {
            "accession_number": "ORD-77",
            "requested_procedure": "MR brain",
            "priority": "urgent",
            "clinical_history": "new seizure",
        },
        format="json",
    )
    assert response.status_code == 201
    uid, files = new_study(FLAIR[:2], tmp_path, AccessionNumber="ORD-77")
    c_store(files, port=orthanc.config.dicom_port, calling_aet="ALPHA_CT")
    study = follow_until(lambda: _complete(uid))
    assert study.order.clinical_history == "new seizure"
    assert study.priority == "urgent"


def test_the_same_accession_at_another_hospital_is_not_matched(
    orthanc, hospital_a, hospital_b, hospital_user_a, tmp_path
):
    api_as(hospital_user_a).post(
        "/api/v1/orders/",
        {"accession_number": "SAME-1", "requested_procedure": "MR brain", "priority": "STAT"},
        format="json",
    )
    uid, files = new_study(FLAIR[:2], tmp_path, AccessionNumber="SAME-1")
    c_store(files, port=orthanc.config.dicom_port, calling_aet="BETA_CT")
    study = follow_until(lambda: _complete(uid))
    assert study.hospital == hospital_b
    assert study.order is None
    assert study.priority == "routine"


def test_korean_japanese_and_chinese_names_round_trip(orthanc, hospital_a):
    names = {}
    for name in ["chrI2.dcm", "chrH31.dcm", "chrH32.dcm", "chrX1.dcm", "chrX2.dcm"]:
        path = charset_file(name)
        ds = pydicom.dcmread(path)
        names[ds.StudyInstanceUID] = str(ds.PatientName)
        c_store([path], port=orthanc.config.dicom_port, calling_aet="ALPHA_CT")

    def all_arrived():
        return Study.objects.filter(study_instance_uid__in=names).count() == len(names)

    follow_until(all_arrived)
    stored = dict(Study.objects.values_list("study_instance_uid", "patient_name"))
    for uid, expected in names.items():
        assert stored[uid] == expected
    assert "홍^길동" in " ".join(stored.values())  # Korean, ISO 2022 IR 149
    assert "王^小东" in " ".join(stored.values())  # Chinese, GB18030
    assert "山田^太郎" in stored[next(u for u, n in names.items() if n.startswith("ﾔﾏﾀﾞ"))]


def test_the_follower_and_the_sweep_never_complete_a_study_twice(orthanc, hospital_a, tmp_path):
    uid, files = new_study(FLAIR[:3], tmp_path)
    c_store(files, port=orthanc.config.dicom_port, calling_aet="ALPHA_CT")
    time.sleep(orthanc.config.stable_age + 1.5)
    follow_once()
    sweep()
    follow_until_idle()
    sweep()
    study = _complete(uid)
    assert study is not None
    assert study.events.filter(kind="completed").count() == 1
    assert len(_jobs(study)) == 1


def test_one_study_uid_sent_for_two_patients_is_quarantined_not_merged(
    orthanc, hospital_a, tmp_path
):
    uid, first = new_study(FLAIR[:2], tmp_path / "a")
    c_store(first, port=orthanc.config.dicom_port, calling_aet="ALPHA_CT")
    original = follow_until(lambda: _complete(uid))
    _, other = new_study(BBMRI[:2], tmp_path / "b", study_instance_uid=uid)
    c_store(other, port=orthanc.config.dicom_port, calling_aet="ALPHA_CT")
    twin = follow_until(
        lambda: Study.objects.filter(study_instance_uid=uid).exclude(pk=original.pk).first()
    )
    assert twin.status == "quarantined"
    assert twin.quarantine_reason == "conflicting_uid"
    original.refresh_from_db()
    assert (original.instance_count, original.version) == (2, 1)


def test_while_orthanc_is_down_the_follower_fails_loudly_and_loses_nothing(
    orthanc_factory, hospital_a, tmp_path
):
    orthanc = orthanc_factory()
    uid, files = new_study(FLAIR[:3], tmp_path / "files")
    c_store(files, port=orthanc.config.dicom_port, calling_aet="ALPHA_CT")
    time.sleep(orthanc.config.stable_age + 1.5)
    orthanc.stop()
    with pytest.raises(OrthancError, match="unreachable"):
        follow_once()
    assert IngestCursor.objects.get().last_seq == 0
    orthanc_factory(directory=orthanc.config.directory, http_port=orthanc.config.http_port,
                    dicom_port=orthanc.config.dicom_port)  # fmt: skip
    # Back up: the study arrives; Orthanc lost its stability timer, the sweep completes it.
    follow_until(lambda: Study.objects.filter(study_instance_uid=uid).first())
    time.sleep(1.5)
    sweep()
    assert _complete(uid) is not None


def test_a_code_stroke_study_from_the_emergency_department_arrives_as_stat(
    orthanc, hospital_a, tmp_path
):
    uid, files = new_study(FLAIR[:2], tmp_path, StudyDescription="MR BRAIN CODE STROKE",
                           CurrentPatientLocation="ED")  # fmt: skip
    c_store(files, port=orthanc.config.dicom_port, calling_aet="ALPHA_CT")
    study = follow_until(lambda: _complete(uid))
    assert study.priority == "stat"
    assert "CODE STROKE" in study.priority_reason
    assert study.patient_location == "ED"
