"""Critical results' background work, on a queue of its own: a category 1 finding must not
wait behind a backlog of report deliveries or triage runs."""

from __future__ import annotations

from procrastinate.contrib.django import app

from readingcenter.critical import services

QUEUE = "critical"


@app.task(queue=QUEUE, name="critical.notify", retry=5, pass_context=False)
def notify(*, critical_result_id: int) -> None:
    """Plan (once per level) and send a critical result's notifications.

    Deferred by its name in the signing transaction and in each escalation step; it may run
    more than once (at-least-once), and only sends what is still pending.
    """
    services.critical_result_notify(critical_result_id=critical_result_id)


@app.periodic(cron="* * * * *", periodic_id="critical-escalate")
@app.task(
    queue=QUEUE, name="critical.escalate", queueing_lock="critical-escalate", pass_context=False
)
def escalate(timestamp: int) -> None:
    """Open results past their window go one level up. Computed from the database, so a
    missed run loses nothing: the next one finds the same rows."""
    services.critical_results_escalate()
