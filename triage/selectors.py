"""Reads of what the AI said, for the apps above triage (worklist, reports) and its own hooks."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from triage.models import INPUT_CHECK_KEY, RunStatus, TriageRun


def triage_runs_succeeded(study) -> QuerySet[TriageRun]:
    """The succeeded runs on the study as it is now (its current version), one per model version.

    A run on an earlier version says nothing about the series that came since, and a failed or
    not-applicable run has no findings: the worklist's AI score, the report's AI draft and the
    AI priority signal all read only these. Callers order or narrow the columns as they need.
    """
    return TriageRun.objects.filter(
        study_id=study.pk, study_version=study.version, status=RunStatus.SUCCEEDED
    )


def triage_runs_withheld(study) -> QuerySet[TriageRun]:
    """The runs on the study as it is now whose model was made for it but did not speak.

    Low confidence (the images fall outside what the model was validated on) and not
    applicable by an input check (a localizer, a contrast study for a non-contrast model):
    the radiologist is told "AI not applied" and why, so that the AI's silence is never read
    as a negative. A not-applicable run without an input check (a CT model on a radiograph)
    is left out: it is true of every study of another kind and says nothing worth showing.
    """
    return TriageRun.objects.filter(
        Q(status=RunStatus.LOW_CONFIDENCE)
        | Q(status=RunStatus.NOT_APPLICABLE, detail__has_key=INPUT_CHECK_KEY),
        study_id=study.pk,
        study_version=study.version,
    )
