from __future__ import annotations

from procrastinate.contrib.django import app


@app.periodic(cron="* * * * *", periodic_id="claims-expire-idle")
@app.task(
    queue="sla",
    name="worklist.claims_expire_idle",
    queueing_lock="claims-expire-idle",
    pass_context=False,
)
def claims_expire_idle(timestamp: int) -> None:
    """Idle claims return to the pool; computed from the database, so a missed run loses
    nothing: the next one finds the same rows."""
    from readingcenter.worklist.services import claims_expire_idle as expire

    expire()
