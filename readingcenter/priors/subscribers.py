"""What the priors app answers on the hook points of the layers below it.

Imported by PriorsConfig.ready().
"""

from __future__ import annotations

from readingcenter import hooks
from readingcenter.priors import jobs, services


@hooks.subscribe("studies.study_received")
def study_received(*, study) -> None:
    # In the ingest transaction: the lookup and its job exist only if the arrival commits.
    if services.priors_lookup_open(study) is not None:
        jobs.lookup.defer(study_id=study.id)


@hooks.subscribe("studies.arrival_is_prior")
def arrival_is_prior(*, hospital, study_instance_uid: str) -> bool | None:
    return services.arrival_is_prior(hospital=hospital, study_instance_uid=study_instance_uid)
