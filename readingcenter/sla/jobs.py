"""SLA background work on the 'sla' queue."""

from __future__ import annotations

from procrastinate.contrib.django import app

QUEUE = "sla"


@app.periodic(cron="* * * * *", periodic_id="sla-escalate")
@app.task(queue=QUEUE, name="sla.escalate", queueing_lock="sla-escalate", pass_context=False)
def escalate(timestamp: int) -> None:
    """Cases with an escalation tier due get its step, once; STAT cases nobody on duty may
    read alert the managers, once; pending e-mails go. Computed from the database, so a missed
    run loses nothing: the next one finds the same rows."""
    from readingcenter.sla.services import sla_alert_uncovered, sla_escalate

    sla_escalate()
    sla_alert_uncovered()
