from __future__ import annotations

import logging

from procrastinate.contrib.django import app

from readingcenter.studies.ingest import sweep

log = logging.getLogger(__name__)


@app.task(queue="triage", name="studies.study_completed", retry=5, pass_context=False)
def study_completed(*, study_id: int, version: int) -> None:
    """A study version became complete: hand it to AI triage.

    Deferred in the completion transaction, so it runs once the study is committed; it may
    run more than once (at-least-once), so it only acts on the version it was deferred for.
    """
    from readingcenter.studies.services import study_completed_handle

    study_completed_handle(study_id=study_id, version=version)


# The task keeps the name it had when ingest lived in pacs: workers and queued jobs know it so.
@app.periodic(cron="* * * * *", periodic_id="ingest-sweep")
@app.task(
    queue="ingest", name="pacs.ingest_sweep", queueing_lock="ingest-sweep", pass_context=False
)
def ingest_sweep(timestamp: int) -> None:
    """Backstop for the follower's own sweep: runs even if no follower is up."""
    sweep()
