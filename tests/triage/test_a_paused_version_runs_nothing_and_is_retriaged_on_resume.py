"""A manager pauses a model version: a head CT sent by C-STORE while it is paused is triaged
by a real Procrastinate worker that records nothing for it, and the study is remembered as
awaiting it. Resuming it (or loading a newer version of the same model) queues a re-triage
job that the worker runs: the study is read, flagged and escalated, once."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import torch
from django.db import connection
from django.test import Client
from django.utils import timezone
from procrastinate.contrib.django import app
from procrastinate.contrib.django.models import ProcrastinateJob

from readingcenter.audit.models import AuditEvent
from readingcenter.studies.models import Study
from simulator.synthetic import make_study as synthetic_study
from tests.conftest import api_as
from tests.pacs.dicom_files import c_store, follow_until
from triage import alarms, jobs, services
from triage.core.nets import HeadCTNet
from triage.core.package import write_package
from triage.models import ModelVersion, TriageAwaiting, TriageRun
from triage.registry import loaded_models

pytestmark = pytest.mark.django_db(transaction=True)

WINDOWS = [
    {"name": "brain", "center": 40, "width": 80},
    {"name": "subdural", "center": 80, "width": 200},
    {"name": "bone", "center": 600, "width": 2800},
]
PAUSE = "/api/v1/triage/models/always-flags/1.0.0/pause/"
RESUME = "/api/v1/triage/models/always-flags/1.0.0/resume/"


def _package(folder, version: str) -> None:
    """A CT head package whose threshold (0) flags every study it reads."""
    torch.manual_seed(0)
    card = {
        "name": "always-flags",
        "version": version,
        "intended_use": "test wiring only",
        "not_for_clinical_use": True,
        "label": "Synthetic demonstration model, not for clinical use",
        "applicability": {"modalities": ["CT"], "body_parts": ["HEAD"]},
        "input": {"kind": "ct-volume", "size": 32, "channels": 3, "windows": WINDOWS},
        "findings": [{"code": "ich", "display": "intracranial hemorrhage", "threshold": 0.0}],
        "calibration": {"method": "none"},
        "training_data": "none: untrained weights for wiring tests",
        "validation": {"note": "not validated"},
        "weights": {"format": "state_dict"},
    }
    write_package(folder / f"always-{version}", card=card, module=HeadCTNet(n_findings=1))


@pytest.fixture
def models_dir(tmp_path, settings):
    folder = tmp_path / "models"
    folder.mkdir()
    settings.TRIAGE_MODEL_DIRS = [str(folder)]
    _package(folder, "1.0.0")
    services.model_versions_register(loaded_models()[0])
    return folder


@pytest.fixture
def worker(monkeypatch):
    """Run a real worker on the 'triage' queue until it has nothing left to do."""

    def then_close(work):
        # The worker runs sync tasks in a pool thread whose Django connection outlives the
        # job; closed here so that the test database can be dropped afterwards.
        def run(**kwargs):
            try:
                return work(**kwargs)
            finally:
                connection.close()

        return run

    monkeypatch.setattr(jobs, "study_completed_handle", then_close(jobs.study_completed_handle))
    monkeypatch.setattr(services, "study_retriage", then_close(services.study_retriage))
    monkeypatch.setattr(alarms, "triage_monitor", then_close(alarms.triage_monitor))

    def run():
        with app.replace_connector(app.connector.get_worker_connector()) as worker_app:
            worker_app.run_worker(queues=["triage"], wait=False, install_signal_handlers=False)

    return run


def _send_head_ct(orthanc, tmp_path) -> Study:
    synthetic = synthetic_study(
        "head-ct", rng=np.random.default_rng(3), finding=True, slices=12, size=64,
        priority="routine", clinical_history="fell at home",
    )  # fmt: skip
    folder = tmp_path / "send"
    folder.mkdir()
    files = []
    for index, ds in enumerate(synthetic.datasets):
        path = folder / f"{index:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    c_store(files, port=orthanc.config.dicom_port, calling_aet="ALPHA_CT")
    return follow_until(
        lambda: Study.objects.filter(
            study_instance_uid=synthetic.study_instance_uid, status="complete"
        ).first()
    )


def _jobs(task_name: str, status: str, study: Study) -> int:
    # This study's jobs only: the job table outlives each test's flush (Procrastinate's own).
    return ProcrastinateJob.objects.filter(
        task_name=task_name, status=status, args__study_id=study.pk
    ).count()


def test_a_paused_version_runs_nothing_and_its_studies_are_retriaged_on_resume(
    orthanc, hospital_a, manager, models_dir, worker, tmp_path
):
    api = api_as(manager)
    paused = api.post(PAUSE, {"reason": "flags every head CT from the new scanner"})
    assert paused.status_code == 200, paused.content
    assert paused.json()["state"] == "paused"

    study = _send_head_ct(orthanc, tmp_path)
    worker()  # the completion's triage job, while the version is paused
    assert _jobs("studies.study_completed", "succeeded", study) == 1
    assert not TriageRun.objects.filter(study=study).exists()
    [awaiting] = TriageAwaiting.objects.filter(study=study)
    assert (awaiting.model_name, awaiting.model_version) == ("always-flags", "1.0.0")
    assert awaiting.study_version == study.version
    study.refresh_from_db()
    assert study.priority == "routine"
    reader = Client()
    reader.force_login(manager)
    page = reader.get(f"/cases/{study.case.pk}/").content.decode()
    assert "always-flags 1.0.0 is paused by a manager" in page

    resumed = api.post(RESUME, {"reason": "scanner protocol fixed"})
    assert resumed.status_code == 200, resumed.content
    body = resumed.json()
    assert body["state"] == "active"
    assert [(c["state"], c["actor"], c["queued"]) for c in body["history"]] == [
        ("active", "mgr", 1),
        ("paused", "mgr", 0),
    ]
    assert _jobs("triage.retriage_study", "todo", study) == 1

    worker()  # the re-triage job
    assert _jobs("triage.retriage_study", "succeeded", study) == 1
    [run] = TriageRun.objects.filter(study=study)
    assert (run.model_version, run.status, run.flags) == ("1.0.0", "succeeded", {"ich": True})
    study.refresh_from_db()
    assert study.priority == "stat" and "always-flags" in study.priority_reason
    assert not TriageAwaiting.objects.exists()
    # Run again (at-least-once): nothing is missing any more, nothing is recorded twice.
    assert services.study_retriage(study_id=study.pk) == []
    assert TriageRun.objects.filter(study=study).count() == 1

    said = AuditEvent.objects.filter(action__startswith="triage.model_version.").order_by("id")
    assert [
        (e.action, e.actor_label, e.detail["reason"]) for e in said if "reason" in e.detail
    ] == [
        ("triage.model_version.pause", "mgr", "flags every head CT from the new scanner"),
        ("triage.model_version.resume", "mgr", "scanner protocol fixed"),
    ]


def test_a_newer_version_of_the_same_model_reads_what_waited_for_the_paused_one(
    orthanc, hospital_a, manager, models_dir, worker, tmp_path
):
    services.model_version_pause(
        model_name="always-flags", model_version="1.0.0", actor=manager, reason="recalled"
    )
    study = _send_head_ct(orthanc, tmp_path)
    worker()
    assert TriageAwaiting.objects.filter(study=study).count() == 1

    _package(models_dir, "1.0.1")  # dropped into the folder; the next pass loads it
    waiting = ProcrastinateJob.objects.filter(queueing_lock="triage-monitor", status="todo")
    if not waiting.exists():
        jobs.monitor.defer(timestamp=int(timezone.now().timestamp()))
    worker()  # the monitoring pass queues the re-triage ...
    worker()  # ... which this one runs, if the first did not already pick it up
    runs = list(TriageRun.objects.filter(study=study).values_list("model_version", "status"))
    assert runs == [("1.0.1", "succeeded")]  # the paused version itself never ran
    assert not TriageAwaiting.objects.exists()
    assert ModelVersion.objects.get(model_version="1.0.0").is_paused
    study.refresh_from_db()
    assert study.priority == "stat"


def test_a_study_completed_while_paused_is_not_queued_before_the_resume(
    hospital_a, manager, models_dir
):
    """The periodic pass leaves alone what waits for a version still paused and replaced by
    nothing, and a resume refuses a version that is not paused (409)."""
    from tests.factories import make_study

    services.model_version_pause(
        model_name="always-flags", model_version="1.0.0", actor=manager, reason="recalled"
    )
    study = make_study(hospital_a, version=1, modalities=["CT"])
    version = ModelVersion.objects.get(model_name="always-flags")
    services.triage_awaiting_record(study=study, study_version=1, versions=[version])
    later = timezone.now() + dt.timedelta(hours=3)
    assert services.triage_awaiting_release_due(loaded=loaded_models()[0], now=later) == 0
    assert TriageAwaiting.objects.get(study=study).queued_at is None
    assert api_as(manager).post(PAUSE, {"reason": "again"}).json()["code"] == (
        "model_version_paused"
    )
    services.model_version_resume(
        model_name="always-flags", model_version="1.0.0", actor=manager, reason="ok"
    )
    again = api_as(manager).post(RESUME, {"reason": "twice"})
    assert (again.status_code, again.json()["code"]) == (409, "model_version_active")
    assert TriageAwaiting.objects.get(study=study).queued_at is not None
