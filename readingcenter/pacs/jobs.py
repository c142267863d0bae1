from __future__ import annotations

from procrastinate.contrib.django import app


@app.periodic(cron="* * * * *", periodic_id="ingest-sweep")
@app.task(
    queue="ingest", name="pacs.ingest_sweep", queueing_lock="ingest-sweep", pass_context=False
)
def ingest_sweep(timestamp: int) -> None:
    """Backstop for the follower's own sweep: runs even if no follower is up."""
    from readingcenter.pacs.ingest import sweep

    sweep()
