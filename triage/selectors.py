"""Reads of what the AI said, for the apps above triage (worklist, reports) and its own hooks."""

from __future__ import annotations

from django.db.models import QuerySet

from triage.models import RunStatus, TriageRun


def triage_runs_succeeded(study) -> QuerySet[TriageRun]:
    """The succeeded runs on the study as it is now (its current version), one per model version.

    A run on an earlier version says nothing about the series that came since, and a failed or
    not-applicable run has no findings: the worklist's AI score, the report's AI draft and the
    AI priority signal all read only these. Callers order or narrow the columns as they need.
    """
    return TriageRun.objects.filter(
        study_id=study.pk, study_version=study.version, status=RunStatus.SUCCEEDED
    )
