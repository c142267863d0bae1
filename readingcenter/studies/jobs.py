from __future__ import annotations

import logging

from procrastinate.contrib.django import app

log = logging.getLogger(__name__)


@app.task(queue="triage", name="studies.study_completed", retry=5, pass_context=False)
def study_completed(*, study_id: int, version: int) -> None:
    """A study version became complete: hand it to AI triage.

    Deferred in the completion transaction, so it runs once the study is committed; it may
    run more than once (at-least-once), so it only acts on the version it was deferred for.
    """
    from readingcenter.studies.services import study_completed_handle

    study_completed_handle(study_id=study_id, version=version)
