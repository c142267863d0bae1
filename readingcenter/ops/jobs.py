"""Keeping the job queue whole when a worker dies in the middle of a job."""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from django.utils import timezone
from procrastinate.contrib.django import app
from procrastinate.exceptions import UniqueViolation
from procrastinate.jobs import Status

from readingcenter.audit.services import audit_record

log = logging.getLogger(__name__)

# Procrastinate workers beat every 10 s; one silent for this long is gone (SIGKILL, a node lost).
STALLED_AFTER_SECONDS = 30


@app.periodic(cron="* * * * *", periodic_id="jobs-retry-stalled")
@app.task(queue="ops", name="ops.retry_stalled_jobs", queueing_lock="jobs-retry-stalled")
def retry_stalled_jobs(timestamp: int) -> int:
    """Queue again the jobs a dead worker was running; returns how many.

    A job left in "doing" by a killed worker would otherwise wait forever: a study never
    triaged, a report never delivered. Every job of ours is safe to run again (they check
    what is already done, in the same transaction as doing it), so the job is retried as is.
    """
    stalled = async_to_sync(app.job_manager.get_stalled_jobs)(
        seconds_since_heartbeat=STALLED_AFTER_SECONDS
    )
    for job in stalled:
        try:
            app.job_manager.retry_job_by_id(job.id, retry_at=timezone.now())
            action = "job.retry_stalled"
        except UniqueViolation:
            # The same job (its queueing lock) is already waiting to run: this copy is not
            # needed, but it must not stay "doing" either, or its lock (one delivery at a time
            # per endpoint) would hold every later job of that endpoint back.
            async_to_sync(app.job_manager.finish_job_by_id_async)(
                job.id, status=Status.FAILED, delete_job=False
            )
            action = "job.stalled_superseded"
        log.warning("job %s (%s) was left running by a dead worker: %s", job.id, job.task_name,
                    action)  # fmt: skip
        audit_record(
            actor="system:jobs",
            action=action,
            target_type="procrastinate.job",
            target_id=job.id,
            detail={"task": job.task_name, "attempts": job.attempts},
        )
    return len(stalled)
