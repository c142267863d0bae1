"""The follower killed in the middle of a batch, then restarted, records each change once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from procrastinate.contrib.django.models import ProcrastinateJob

from readingcenter.pacs.models import IngestCursor
from readingcenter.studies.models import Study
from tests.pacs.dicom_files import BBMRI, FLAIR, c_store, follow_until, new_study

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgresql://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _follower(ahead: bool) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "ORTHANC_URL": settings.ORTHANC_URL,
        "ORTHANC_USERNAME": settings.ORTHANC_USERNAME,
        "ORTHANC_PASSWORD": settings.ORTHANC_PASSWORD,
        "ORTHANC_STABLE_AGE": str(settings.ORTHANC_STABLE_AGE),
        "INGEST_POLL_INTERVAL": "0.1",
        "INGEST_COMPLETE_AHEAD": "1" if ahead else "0",
    }
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "follow_orthanc"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_for_a_blocked_backend(conn, timeout=20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = conn.execute(
            "select count(*) from pg_stat_activity where wait_event_type = 'Lock' and datname = %s",
            (connection.settings_dict["NAME"],),
        ).fetchone()[0]
        if waiting:
            return
        time.sleep(0.1)
    raise AssertionError("the follower never reached the locked study")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("ahead", [False, True], ids=["in-order", "completing-ahead"])
def test_a_follower_killed_mid_batch_and_restarted_records_each_change_once(
    orthanc, hospital_a, tmp_path, ahead
):
    port = orthanc.config.dicom_port
    uid_a, first = new_study(FLAIR[:4], tmp_path / "a")
    c_store(first, port=port, calling_aet="ALPHA_CT")
    study_a = follow_until(
        lambda: Study.objects.filter(study_instance_uid=uid_a, status="complete").first()
    )
    cursor_before = IngestCursor.objects.get().last_seq

    # New work for one batch: study B, then a late series for A; all of it stable already.
    uid_b, files_b = new_study(BBMRI[:3], tmp_path / "b")
    c_store(files_b, port=port, calling_aet="ALPHA_CT")
    _, late = new_study(
        FLAIR[4:6],
        tmp_path / "late",
        study_instance_uid=uid_a,
        PatientID=study_a.patient_id,
        PatientName=study_a.patient_name,
    )
    c_store(late, port=port, calling_aet="ALPHA_CT")
    time.sleep(orthanc.config.stable_age + 1.5)

    # Hold study A's row from another connection: the follower applies B, then blocks on A,
    # in the middle of its batch. That is where we kill it, with SIGKILL (no cleanup at all).
    with psycopg.connect(_database_url(), autocommit=False) as blocker:
        blocker.execute("select id from studies_study where id = %s for update", (study_a.id,))
        follower = _follower(ahead)
        try:
            with psycopg.connect(_database_url(), autocommit=True) as watcher:
                _wait_for_a_blocked_backend(watcher)
            follower.send_signal(signal.SIGKILL)
            follower.wait(10)
        finally:
            if follower.poll() is None:
                follower.kill()
        blocker.rollback()

    # What committed before the kill is there once; the change in flight (A's late series, or
    # A's completion when the follower completes stable studies ahead of its cursor) left no
    # trace. In order, the cursor had moved past B; ahead, B may have completed (if its
    # StableStudy came before A's) with the cursor still where it was.
    study_a.refresh_from_db()
    assert (study_a.series_count, study_a.version) == (1, 1)
    assert not study_a.events.filter(kind="reopened").exists()
    if ahead:
        assert Study.objects.filter(study_instance_uid=uid_b).count() <= 1
    else:
        assert Study.objects.filter(study_instance_uid=uid_b).count() == 1
        assert cursor_before < IngestCursor.objects.get().last_seq

    restarted = _follower(ahead)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if (
                Study.objects.filter(study_instance_uid=uid_b, status="complete").exists()
                and Study.objects.filter(pk=study_a.pk, version=2, status="complete").exists()
            ):
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the restarted follower did not catch up")
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(15)

    study_b = Study.objects.get(study_instance_uid=uid_b)
    study_a.refresh_from_db()
    assert list(study_b.events.values_list("kind", flat=True)).count("received") == 1
    assert list(study_b.events.values_list("kind", flat=True)).count("completed") == 1
    kinds_a = list(study_a.events.values_list("kind", flat=True))
    assert (kinds_a.count("received"), kinds_a.count("reopened"), kinds_a.count("completed")) == (
        1,
        1,
        2,
    )
    assert (study_a.series_count, study_a.instance_count) == (2, 6)
    # Procrastinate's table is not flushed between transactional tests: look at ours only.
    ours = {study_a.id, study_b.id}
    jobs = [j.args for j in ProcrastinateJob.objects.filter(task_name="studies.study_completed")]
    assert sorted((j["study_id"], j["version"]) for j in jobs if j["study_id"] in ours) == sorted(
        [(study_a.id, 1), (study_a.id, 2), (study_b.id, 1)]
    )
