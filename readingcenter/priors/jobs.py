from __future__ import annotations

from procrastinate.contrib.django import app

from readingcenter.priors import services


@app.task(queue="priors", name="priors.lookup", pass_context=False)
def lookup(study_id: int) -> None:
    """Look for the study's priors; a PACS that is down is asked again after a backoff
    (services.retry_wait: 10 s, 20 s, 40 s... up to services.MAX_ATTEMPTS tries), and the case
    says "priors unavailable" with the reason meanwhile."""
    try:
        services.priors_lookup_run(study_id=study_id)
    except services.PriorsUnavailable:
        attempts = services.lookup_attempts(study_id)
        if attempts < services.MAX_ATTEMPTS:
            lookup.configure(schedule_in={"seconds": services.retry_wait(attempts)}).defer(
                study_id=study_id
            )
