"""Several followers on one Orthanc (a rolling deploy, a second host): each change applied once."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection
from procrastinate.contrib.django.models import ProcrastinateJob

from readingcenter.studies.ingest import follow_once
from readingcenter.studies.models import Study, StudyEvent
from tests.pacs.dicom_files import FLAIR, c_store, new_study


@pytest.mark.django_db(transaction=True)
def test_three_followers_racing_on_one_feed_record_every_study_once(orthanc, hospital_a, tmp_path):
    uids = []
    for index in range(6):
        uid, files = new_study(FLAIR[:3], tmp_path / str(index))
        c_store(files, port=orthanc.config.dicom_port, calling_aet="ALPHA_CT")
        uids.append(uid)
    time.sleep(orthanc.config.stable_age + 1.5)

    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def follower():
        try:
            start.wait()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                follow_once(batch_size=5)  # small batches: many chances to collide
                if Study.objects.filter(status="complete").count() == len(uids):
                    break
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=follower) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert Study.objects.filter(study_instance_uid__in=uids, status="complete").count() == len(uids)
    for study in Study.objects.all():
        assert StudyEvent.objects.filter(study=study, kind="received").count() == 1
        assert StudyEvent.objects.filter(study=study, kind="completed").count() == 1
    ours = set(Study.objects.values_list("id", flat=True))
    jobs = ProcrastinateJob.objects.filter(task_name="studies.study_completed")
    assert sum(1 for job in jobs if job.args["study_id"] in ours) == len(uids)
