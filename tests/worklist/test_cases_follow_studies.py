"""A study sent by C-STORE becomes a case on the worklist once complete; a late series keeps
it where it was; quarantine keeps it off until a manager releases it."""

from __future__ import annotations

import time

from readingcenter.studies.ingest import follow_until_idle
from readingcenter.studies.models import Study
from readingcenter.studies.services import study_assign_hospital
from readingcenter.worklist.models import Case
from tests.conftest import api_as
from tests.pacs.dicom_files import FLAIR, c_store, follow_until, new_study


def _case(uid):
    return Case.objects.filter(study__study_instance_uid=uid).select_related("study").first()


def test_a_complete_study_opens_one_case_that_a_privileged_reader_sees(
    orthanc, hospital_a, radiologist, radiologist_b_only, tmp_path
):
    uid, files = new_study(FLAIR[:6], tmp_path, AccessionNumber="WL-1", BodyPartExamined="BRAIN")
    c_store(files, port=orthanc.config.dicom_port, calling_aet="ALPHA_CT")
    case = follow_until(lambda: _case(uid))
    assert case.state == "unread" and case.hospital == hospital_a
    assert case.modality == "MR" and case.subspecialty == "neuro"
    assert case.arrived_at == case.study.completed_at
    rows = api_as(radiologist).get("/api/v1/worklist/").json()["results"]
    assert [r["study"]["accession_number"] for r in rows] == ["WL-1"]
    assert api_as(radiologist_b_only).get("/api/v1/worklist/").json()["results"] == []

    # A late series re-opens and re-completes the study: same case, same clock.
    c_store(new_study(FLAIR[6:8], tmp_path, study_instance_uid=uid)[1],
            port=orthanc.config.dicom_port, calling_aet="ALPHA_CT")  # fmt: skip
    follow_until(lambda: Study.objects.filter(study_instance_uid=uid, version=2).first())
    assert Case.objects.filter(study__study_instance_uid=uid).count() == 1
    assert _case(uid).arrived_at == case.arrived_at


def test_a_quarantined_study_reaches_the_worklist_only_when_a_manager_assigns_it(
    orthanc, hospital_a, manager, tmp_path
):
    uid, files = new_study(FLAIR[:3], tmp_path)
    c_store(files, port=orthanc.config.dicom_port, calling_aet="UNKNOWN_AE")
    study = follow_until(
        lambda: Study.objects.filter(study_instance_uid=uid, status="quarantined").first()
    )
    time.sleep(orthanc.config.stable_age + 1.5)
    follow_until_idle()
    assert _case(uid) is None
    study_assign_hospital(study_id=study.pk, hospital=hospital_a, actor=manager)
    assert _case(uid).state == "unread"


def test_studies_from_before_the_worklist_get_their_cases_once(hospital_a, db):
    from django.core.management import call_command

    from readingcenter.worklist.services import cases_open_missing
    from tests.factories import make_study

    study = make_study(hospital_a)
    make_study(hospital_a, status="receiving")
    call_command("open_cases", verbosity=0)
    assert Case.objects.get().study == study
    assert cases_open_missing() == 0
