from __future__ import annotations

from procrastinate.contrib.django import app

from triage import alarms, services
from triage.services import study_completed_handle

QUEUE = "triage"


# The task keeps the name it had when studies deferred it: workers and queued jobs know it so.
@app.task(queue=QUEUE, name="studies.study_completed", retry=5, pass_context=False)
def study_completed(*, study_id: int, version: int) -> None:
    """A study version became complete: triage it.

    Deferred in the completion transaction (triage.subscribers), so it runs once the study is
    committed; it may run more than once (at-least-once), so it only acts on the version it
    was deferred for.
    """
    study_completed_handle(study_id=study_id, version=version)


@app.task(queue=QUEUE, name=services.RETRIAGE_TASK, retry=5, pass_context=False)
def retriage_study(*, study_id: int) -> None:
    """Run the models still missing on the study as it is now (a model version resumed, or
    a newer one loaded). Deferred by name with a queueing lock per study (services); running
    it twice records nothing twice: each model runs only where it has no run yet."""
    services.study_retriage(study_id=study_id)


@app.periodic(cron="* * * * *", periodic_id="triage-monitor")
@app.task(queue=QUEUE, name="triage.monitor", queueing_lock="triage-monitor", pass_context=False)
def monitor(timestamp: int) -> None:
    """Every minute: each model version's positive rate against its band (an alarm fired once
    per version, window and kind), and the studies awaiting a version that may speak again.
    Computed from the database for the tick's own instant, so a late or repeated run finds
    the same rows and fires nothing twice."""
    alarms.triage_monitor(timestamp=timestamp)
