"""What AI triage answers on the hook points of the layers below it (readingcenter.hooks).

Imported by TriageConfig.ready().
"""

from __future__ import annotations

from readingcenter import hooks
from readingcenter.studies.models import Priority
from readingcenter.studies.priority import Signal
from triage.jobs import study_completed
from triage.selectors import triage_runs_succeeded


@hooks.subscribe("studies.study_completed")
def defer_triage(*, study, version: int) -> None:
    # In the completion transaction: the job exists only if the completion commits.
    study_completed.defer(study_id=study.id, version=version)


@hooks.subscribe("studies.priority_signals")
def ai_signals(*, study) -> list[Signal]:
    """A positive AI flag on the study as it is now makes it STAT (computer-aided triage)."""
    if study.pk is None:
        return []
    runs = triage_runs_succeeded(study)
    return [
        Signal(
            Priority.STAT,
            f"AI {run.model_name} {run.model_version} flags {code} "
            f"(probability {run.probabilities.get(code, 0):.2f})",
        )
        for run in runs
        for code in run.flagged
    ]
