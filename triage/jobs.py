from __future__ import annotations

from procrastinate.contrib.django import app

from triage.services import study_completed_handle


# The task keeps the name it had when studies deferred it: workers and queued jobs know it so.
@app.task(queue="triage", name="studies.study_completed", retry=5, pass_context=False)
def study_completed(*, study_id: int, version: int) -> None:
    """A study version became complete: triage it.

    Deferred in the completion transaction (triage.subscribers), so it runs once the study is
    committed; it may run more than once (at-least-once), so it only acts on the version it
    was deferred for.
    """
    study_completed_handle(study_id=study_id, version=version)
