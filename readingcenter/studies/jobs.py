from __future__ import annotations

from procrastinate.contrib.django import app

from readingcenter.studies.ingest import sweep


# The task keeps the name it had when ingest lived in pacs: workers and queued jobs know it so.
@app.periodic(cron="* * * * *", periodic_id="ingest-sweep")
@app.task(
    queue="ingest", name="pacs.ingest_sweep", queueing_lock="ingest-sweep", pass_context=False
)
def ingest_sweep(timestamp: int) -> None:
    """Backstop for the follower's own sweep: runs even if no follower is up."""
    sweep()
