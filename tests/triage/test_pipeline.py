"""From a completed study to recorded triage runs, against a real Orthanc.

These tests use packages written here with fixed operating thresholds, so that the wiring
(selection, fetching, decoding, recording, escalation) is what is tested; the shipped models'
own behaviour has golden tests of its own.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from readingcenter.studies.models import Study
from simulator.synthetic import make_study as synthetic_study
from tests.conftest import api_as
from tests.pacs.dicom_files import FLAIR, c_store, follow_until
from triage.core.nets import HeadCTNet
from triage.core.package import write_package
from triage.services import study_completed_handle

WINDOWS = [
    {"name": "brain", "center": 40, "width": 80},
    {"name": "subdural", "center": 80, "width": 200},
    {"name": "bone", "center": 600, "width": 2800},
]


def _card(name: str, threshold: float) -> dict:
    return {
        "name": name,
        "version": "0.0.1",
        "intended_use": "test wiring only",
        "not_for_clinical_use": True,
        "label": "Synthetic demonstration model, not for clinical use",
        "applicability": {"modalities": ["CT"], "body_parts": ["HEAD"]},
        "input": {"kind": "ct-volume", "size": 32, "channels": 3, "windows": WINDOWS},
        "findings": [{"code": "ich", "display": "intracranial hemorrhage", "threshold": threshold}],
        "calibration": {"method": "none"},
        "training_data": "none: untrained weights for wiring tests",
        "validation": {"note": "not validated"},
        "weights": {"format": "state_dict"},
    }


@pytest.fixture
def always_flags(tmp_path, settings):
    """A CT head package whose threshold (0) flags every study it reads."""
    torch.manual_seed(0)
    write_package(tmp_path / "models" / "always", card=_card("always-flags", 0.0),
                  module=HeadCTNet(n_findings=1, in_channels=3))  # fmt: skip
    settings.TRIAGE_MODEL_DIRS = [str(tmp_path / "models")]
    return tmp_path / "models"


def _send(datasets, tmp_path, orthanc, aet="ALPHA_CT"):
    folder = tmp_path / "send"
    folder.mkdir(exist_ok=True)
    files = []
    for index, ds in enumerate(datasets):
        path = folder / f"{index:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    c_store(files, port=orthanc.config.dicom_port, calling_aet=aet)


def _complete(uid):
    return Study.objects.filter(study_instance_uid=uid, status="complete").first()


def test_a_head_ct_is_triaged_recorded_and_escalated(orthanc, hospital_a, always_flags, tmp_path,
                                                     manager):  # fmt: skip
    synthetic = synthetic_study(
        "head-ct", rng=np.random.default_rng(3), finding=True, slices=12, size=64,
        priority="routine", clinical_history="headache since this morning",
    )  # fmt: skip
    _send(synthetic.datasets, tmp_path, orthanc)
    study = follow_until(lambda: _complete(synthetic.study_instance_uid))
    study_completed_handle(study_id=study.id, version=study.version)
    run = study.triage_runs.get()
    assert run.status == "succeeded", run.reason
    assert len(run.sop_instance_uids) == 12
    assert run.series_instance_uid == synthetic.series_instance_uids[0]
    data = api_as(manager).get(f"/api/v1/studies/{study.id}/").data
    assert data["priority"] == "stat"
    assert "always-flags" in data["priority_reason"]
    assert data["ai"]["flags"] == ["ich"]


def test_a_wrong_modality_study_is_not_applicable_and_changes_nothing(
    orthanc, hospital_a, always_flags, tmp_path, manager
):
    from tests.pacs.dicom_files import new_study

    uid, files = new_study(FLAIR[:3], tmp_path / "mr")
    c_store(files, port=orthanc.config.dicom_port, calling_aet="ALPHA_CT")
    study = follow_until(lambda: _complete(uid))
    study_completed_handle(study_id=study.id, version=study.version)
    run = study.triage_runs.get()
    assert run.status == "not_applicable"
    assert "MR" in run.reason
    data = api_as(manager).get(f"/api/v1/studies/{study.id}/").data
    assert (data["priority"], data["ai"]["status"]) == ("routine", "not_run")


def test_a_corrupt_pixel_payload_fails_with_the_reason_and_the_study_stays_readable(
    orthanc, hospital_a, always_flags, tmp_path
):
    synthetic = synthetic_study(
        "head-ct", rng=np.random.default_rng(4), finding=False, slices=12, size=64,
        priority="routine", clinical_history="dizziness",
    )  # fmt: skip
    # One slice's pixel data cut in half: valid DICOM that Orthanc stores, pixels that no
    # decoder can make whole.
    broken = synthetic.datasets[5]
    broken.PixelData = broken.PixelData[: len(broken.PixelData) // 2]
    _send(synthetic.datasets, tmp_path, orthanc)
    study = follow_until(lambda: _complete(synthetic.study_instance_uid))
    study_completed_handle(study_id=study.id, version=study.version)
    run = study.triage_runs.get()
    assert run.status == "failed"
    assert "pixel data" in run.reason.lower()
    study.refresh_from_db()
    assert (study.status, study.priority) == ("complete", "routine")
    assert study.is_readable


def test_a_late_series_is_triaged_again_as_a_new_run(orthanc, hospital_a, always_flags, tmp_path):
    synthetic = synthetic_study("head-ct", rng=np.random.default_rng(5), finding=True, slices=12,
                                size=64)  # fmt: skip
    _send(synthetic.datasets, tmp_path, orthanc)
    study = follow_until(lambda: _complete(synthetic.study_instance_uid))
    study_completed_handle(study_id=study.id, version=1)
    late = synthetic.add_series()
    (tmp_path / "late").mkdir()
    _send(late, tmp_path / "late", orthanc)
    study = follow_until(lambda: Study.objects.filter(pk=study.pk, version=2,
                                                      status="complete").first())  # fmt: skip
    study_completed_handle(study_id=study.id, version=2)
    runs = list(study.triage_runs.order_by("study_version"))
    assert [r.study_version for r in runs] == [1, 2]
    assert runs[0].status == "succeeded"


def test_the_admin_shows_which_packages_are_loaded_and_which_were_refused(
    client, manager, always_flags
):
    broken = always_flags / "broken"
    broken.mkdir()
    (broken / "model.json").write_text("{not json")
    manager.is_staff = manager.is_superuser = True
    manager.save()
    client.force_login(manager)
    page = client.get("/admin/triage/triagerun/").content.decode()
    assert "always-flags" in page
    assert "ich (0.0)" in page
    assert "Refused" in page and "broken" in page
