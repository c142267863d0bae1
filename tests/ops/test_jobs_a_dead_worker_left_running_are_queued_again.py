"""A worker killed mid-job (SIGKILL, a lost node) leaves its job in "doing": it is run again."""

from __future__ import annotations

import pytest
from django.db import connection
from procrastinate.contrib.django.models import ProcrastinateJob

from readingcenter.audit.models import AuditEvent
from readingcenter.ops.jobs import retry_stalled_jobs
from readingcenter.studies.jobs import ingest_sweep


def _running_on_a_worker(job_id: int, heartbeat_seconds_ago: int) -> None:
    with connection.cursor() as sql:
        sql.execute(
            "insert into procrastinate_workers (last_heartbeat) "
            "values (now() - make_interval(secs => %s)) returning id",
            [heartbeat_seconds_ago],
        )
        worker_id = sql.fetchone()[0]
        sql.execute(
            "update procrastinate_jobs set status = 'doing', worker_id = %s where id = %s",
            [worker_id, job_id],
        )


@pytest.fixture(autouse=True)
def _no_waiting_sweep(transactional_db):
    """A waiting ingest-sweep job that other tests' clusters deferred into this database would
    hold the task's queueing lock: these tests defer their own. So would one that another
    test's worker left running: retried first, it took the lock, and this test's dead job was
    closed as superseded instead of retried (seen in CI, in one test order)."""
    with connection.cursor() as sql:
        sql.execute(
            "delete from procrastinate_jobs"
            " where queueing_lock = 'ingest-sweep' and status in ('todo', 'doing')"
        )


@pytest.mark.django_db(transaction=True)
def test_the_job_of_a_silent_worker_is_queued_again_and_a_live_ones_is_not():
    # The task's queueing lock allows one waiting job at a time: each is taken before the next.
    dead = ingest_sweep.defer(timestamp=1)
    _running_on_a_worker(dead, heartbeat_seconds_ago=120)
    alive = ingest_sweep.defer(timestamp=2)
    _running_on_a_worker(alive, heartbeat_seconds_ago=2)

    # (Counted, not compared to 1: jobs other tests left behind are stalled too.)
    assert retry_stalled_jobs(timestamp=0) >= 1

    assert ProcrastinateJob.objects.get(id=dead).status == "todo"
    assert ProcrastinateJob.objects.get(id=alive).status == "doing"
    retried = AuditEvent.objects.filter(action="job.retry_stalled")
    event = retried.get(target_id=str(dead))
    assert event.detail["task"] == "pacs.ingest_sweep"
    assert not retried.filter(target_id=str(alive)).exists()


@pytest.mark.django_db(transaction=True)
def test_a_stalled_job_whose_twin_already_waits_is_closed_not_left_holding_its_lock():
    # A dead worker's drain of an endpoint, and the next drain already queued (same queueing
    # lock): retrying the first would collide; left "doing", it would hold the endpoint's lock.
    dead = ingest_sweep.defer(timestamp=1)
    _running_on_a_worker(dead, heartbeat_seconds_ago=120)
    waiting = ingest_sweep.defer(timestamp=2)

    assert retry_stalled_jobs(timestamp=0) >= 1

    assert ProcrastinateJob.objects.get(id=dead).status == "failed"
    assert ProcrastinateJob.objects.get(id=waiting).status == "todo"
    event = AuditEvent.objects.get(action="job.stalled_superseded", target_id=str(dead))
    assert event.detail["task"] == "pacs.ingest_sweep"
