"""Sending a study through our Orthanc and triaging it as the worker would, for the triage
tests that go end to end (C-STORE, the follower, the completion job, the study API)."""

from __future__ import annotations

from pathlib import Path

from readingcenter.studies.models import Study
from tests.conftest import api_as
from tests.pacs.dicom_files import c_store, follow_until
from triage.services import study_completed_handle


def send_and_triage(datasets, orthanc, folder: Path) -> Study:
    """C-STORE the instances (every one must be accepted), follow Orthanc until the study is
    complete, and run what the worker runs when the completion job comes."""
    study_instance_uid = str(datasets[0].StudyInstanceUID)
    folder = folder / study_instance_uid[-8:]
    folder.mkdir()
    files = []
    for index, ds in enumerate(datasets):
        files.append(folder / f"{index:04d}.dcm")
        ds.save_as(files[-1], enforce_file_format=True)
    c_store(files, port=orthanc.config.dicom_port, calling_aet="ALPHA_CT", required=True)
    study = follow_until(lambda: Study.objects.filter(
        study_instance_uid=study_instance_uid, status="complete").first())  # fmt: skip
    study_completed_handle(study_id=study.id, version=study.version)
    return study


def head_run(manager, study: Study) -> tuple[dict, dict]:
    """(the study as the API shows it to a manager, its head-ct-ich run)."""
    data = api_as(manager).get(f"/api/v1/studies/{study.id}/").data
    return data, next(run for run in data["ai"]["runs"] if run["model"] == "head-ct-ich")
