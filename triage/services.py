"""Recording what the AI found, and letting it escalate (never lower) a study's priority;
which model versions may run (a manager pauses and resumes them), and the studies that wait
for a paused one until it is resumed or a newer version of the same model replaces it."""

from __future__ import annotations

import datetime as dt
import logging
from io import BytesIO

import pydicom
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from procrastinate.contrib.django import app
from procrastinate.exceptions import AlreadyEnqueued
from pydicom.errors import InvalidDicomError

from readingcenter.audit.services import audit_record
from readingcenter.errors import Conflict, DomainError, NotFound
from readingcenter.pacs.orthanc import OrthancError, get_client
from readingcenter.studies.models import Study, StudyEvent
from readingcenter.studies.services import (
    study_changed,
    study_event_record,
    study_priority_refresh,
)
from triage.core.outcome import RunOutcome, draft_sentences
from triage.core.package import LoadedModel
from triage.core.pipeline import run_model
from triage.models import (
    ModelVersion,
    ModelVersionChange,
    TriageAwaiting,
    TriageRun,
    VersionState,
)
from triage.registry import loaded_models

log = logging.getLogger(__name__)

SYSTEM_TRIAGE = "system:triage"
# The re-triage job (jobs.retriage_study), deferred by its name: jobs imports this module.
RETRIAGE_TASK = "triage.retriage_study"
# A study queued for re-triage whose job never cleared it (it failed for good, or was lost)
# is queued again by the periodic pass after this long.
REQUEUE_AFTER = dt.timedelta(hours=1)


def _run_key(study_id: int, study_version: int, outcome: RunOutcome) -> dict:
    """What makes a run one: a model version on a study version (a unique constraint)."""
    return {
        "study_id": study_id,
        "study_version": study_version,
        "model_name": outcome.model_name,
        "model_version": outcome.model_version,
    }


def _run_create(study: Study, study_version: int, outcome: RunOutcome) -> tuple[TriageRun, bool]:
    """(the run, whether it is new): one model's run recorded, evented and audited.

    Inside the caller's transaction, with the study locked.
    """
    key = _run_key(study.pk, study_version, outcome)
    existing = TriageRun.objects.filter(**key).first()
    if existing is not None:
        return existing, False
    run = TriageRun.objects.create(
        **key,
        weights_sha256=outcome.weights_sha256,
        thresholds=outcome.thresholds,
        status=outcome.status,
        series_instance_uid=outcome.series_instance_uid,
        sop_instance_uids=outcome.sop_instance_uids,
        probabilities=outcome.probabilities,
        flags=outcome.flags,
        draft_findings=draft_sentences(outcome),
        runtime_ms=outcome.runtime_ms,
        reason=outcome.reason,
        detail=outcome.detail,
    )
    # The study no longer awaits this model: a run of it (this version or a newer one that
    # replaced a paused one) now speaks for it on this version.
    TriageAwaiting.objects.filter(
        study_id=study.pk,
        model_name=outcome.model_name,
        study_version__lte=study_version,
    ).delete()
    study_event_record(
        study,
        StudyEvent.Kind.TRIAGED,
        model=outcome.model_name,
        version=outcome.model_version,
        status=outcome.status,
        flagged=run.flagged,
        reason=outcome.reason,
    )
    audit_record(
        actor=f"system:triage:{outcome.model_name}",
        action="triage.run",
        target=run,
        hospital=study.hospital_id,
        patient_id=study.patient_id,
        detail={
            "study_version": study_version,
            "status": outcome.status,
            "reason": outcome.reason,
            "flags": outcome.flags,
            "model_version": outcome.model_version,
            "weights_sha256": outcome.weights_sha256,
        },
    )
    return run, True


def _runs_record(study_id: int, study_version: int, outcomes: list[RunOutcome]) -> list[TriageRun]:
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study_id)
        created = [_run_create(study, study_version, outcome) for outcome in outcomes]
        # Only a run on the study as it is now may move its priority: a run on a version that
        # a late series has since replaced speaks about other images. And only a succeeded
        # one: low confidence, not applicable and failed never escalate (run.flagged is empty
        # for them, whatever their scores).
        flagged = [run for run, new in created if new and run.flagged]
        if study.version == study_version and flagged:
            for run in flagged:
                study_priority_refresh(
                    study, actor_label=f"AI {run.model_name} {run.model_version}"
                )
            study.save(update_fields=["priority", "priority_reason", "updated_at"])
        if any(new for _run, new in created):
            study_changed(study)
    return [run for run, _new in created]


def triage_runs_record(
    *, study_id: int, study_version: int, outcomes: list[RunOutcome]
) -> list[TriageRun]:
    """Record every model's run on one study version; a retried job gets the runs it recorded.

    One transaction and one lock of the study for all of them, and the worklist told once: a
    head CT's run and the chest model's "not applicable" used to pay for all of it twice.
    """
    try:
        return _runs_record(study_id, study_version, outcomes)
    except IntegrityError:
        # Another worker finished one of the same runs at the same instant. Each run is then
        # recorded on its own, and the one the other worker wrote is returned as it is.
        if len(outcomes) > 1:
            return [
                triage_run_record(study_id=study_id, study_version=study_version, outcome=o)
                for o in outcomes
            ]
        return [TriageRun.objects.get(**_run_key(study_id, study_version, outcomes[0]))]


def triage_run_record(*, study_id: int, study_version: int, outcome: RunOutcome) -> TriageRun:
    """Record one model's run on one study version; a retried job gets the run it recorded."""
    return triage_runs_record(study_id=study_id, study_version=study_version, outcomes=[outcome])[0]


def _fetch_series(client, orthanc_series_id: str) -> list:
    """The series' instances as pydicom datasets, straight from Orthanc."""
    datasets = []
    for instance_id in client.series(orthanc_series_id).get("Instances", []):
        datasets.append(pydicom.dcmread(BytesIO(client.instance_file(instance_id)), force=True))
    return datasets


def _outcome_for(model, study, rows: list, client, fetched: dict[str, list]) -> RunOutcome:
    """What one model says about the study: not applicable, failed to fetch, or its run."""
    modalities = {m.upper() for m in model.card.applicability.modalities}
    relevant = [row for row in rows if row.modality.upper() in modalities]
    if not relevant:
        return RunOutcome(
            model_name=model.card.name,
            model_version=model.card.version,
            weights_sha256=model.weights_sha256,
            status="not_applicable",
            reason=f"no {'/'.join(sorted(modalities))} series in this study "
            f"(it has {', '.join(study.modalities) or 'none'})",
        )
    try:
        series = []
        for row in relevant:
            if row.orthanc_id not in fetched:
                fetched[row.orthanc_id] = _fetch_series(client, row.orthanc_id)
            series.append(fetched[row.orthanc_id])
    except (OrthancError, InvalidDicomError, OSError) as exc:
        return RunOutcome(
            model_name=model.card.name,
            model_version=model.card.version,
            weights_sha256=model.weights_sha256,
            status="failed",
            reason=f"could not fetch the images: {exc}"[:500],
        )
    return run_model(model, series)


def _models_to_run(study, version: int, models: list, *, only_missing: bool) -> list:
    """The loaded models that may run on this study version now.

    A paused version runs nothing; the study is remembered as awaiting it, unless another
    version of the same model is active (that one speaks for the model, and a newer version
    loaded later is what a re-triage will run). ``only_missing`` (a re-triage) also skips the
    models that already recorded a run on this version.
    """
    versions = model_versions_register(models)
    paused = {key for key, row in versions.items() if row.is_paused}
    runnable = [m for m in models if (m.card.name, m.card.version) not in paused]
    speaking = {m.card.name for m in runnable}
    waiting = [versions[key] for key in sorted(paused) if key[0] not in speaking]
    if waiting:
        triage_awaiting_record(study=study, study_version=version, versions=waiting)
    if only_missing:
        done = set(
            TriageRun.objects.filter(study_id=study.pk, study_version=version).values_list(
                "model_name", "model_version"
            )
        )
        runnable = [m for m in runnable if (m.card.name, m.card.version) not in done]
    return runnable


def triage_study_version(
    *, study_id: int, version: int, only_missing: bool = False
) -> list[TriageRun]:
    """Run every loaded, active model that could apply to this study version; record each run.

    ``only_missing``: a re-triage, which runs only the models with no run on this version yet.
    """
    study = Study.objects.filter(pk=study_id).first()
    if study is None or study.version != version or not study.is_readable:
        log.info("study %s version %s is not (or no longer) to be triaged", study_id, version)
        return []
    models, _errors = loaded_models()
    if not models:
        log.warning("no triage model is loaded: study %s not triaged", study_id)
        return []
    models = _models_to_run(study, version, models, only_missing=only_missing)
    if not models:
        return []
    rows = list(study.series.filter(is_own=False))
    client = get_client()
    fetched: dict[str, list] = {}
    outcomes = [_outcome_for(model, study, rows, client, fetched) for model in models]
    return triage_runs_record(study_id=study_id, study_version=version, outcomes=outcomes)


def study_completed_handle(*, study_id: int, version: int) -> None:
    """What happens after a study version completes: AI triage, in the worker (never the web)."""
    study = Study.objects.filter(pk=study_id).only("id", "version", "status").first()
    if study is None:
        log.warning("completed study %s no longer exists; nothing to triage", study_id)
        return
    if study.version != version:
        # A late series made a newer version; its own job will run for it.
        log.info("study %s version %s superseded by %s", study_id, version, study.version)
        return
    runs = triage_study_version(study_id=study_id, version=version)
    log.info(
        "study %s version %s triaged: %s",
        study_id,
        version,
        ", ".join(f"{r.model_name} {r.status}" for r in runs) or "no model",
    )


# -- model versions: registration, pause and resume, the studies awaiting them ---------------


def model_versions_register(models: list[LoadedModel]) -> dict[tuple[str, str], ModelVersion]:
    """The ModelVersion row of each loaded model, created (and audited) the first time a
    worker loads it, with its card as loaded: the model page reads it there."""
    if not models:
        return {}
    wanted = {(m.card.name, m.card.version): m for m in models}
    rows = {
        (row.model_name, row.model_version): row
        for row in ModelVersion.objects.filter(model_name__in={name for name, _ in wanted})
        if (row.model_name, row.model_version) in wanted
    }
    for key in sorted(set(wanted) - set(rows)):
        model = wanted[key]
        with transaction.atomic():
            row, created = ModelVersion.objects.get_or_create(
                model_name=key[0],
                model_version=key[1],
                defaults={
                    "weights_sha256": model.weights_sha256,
                    "card": dict(model.card.raw),
                    "last_seen_at": timezone.now(),
                },
            )
            if created:
                audit_record(
                    actor=SYSTEM_TRIAGE,
                    action="triage.model_version.register",
                    target=row,
                    detail={"weights_sha256": model.weights_sha256},
                )
        rows[key] = row
    return rows


def _require_manager(actor) -> None:
    if not (getattr(actor, "is_authenticated", False) and actor.is_active and actor.is_manager):
        raise DomainError(
            "not_a_manager", _("Only managers pause or resume a model version."), status=403
        )


def _reason(reason) -> str:
    text = (reason or "").strip()
    if not text:
        raise DomainError(
            "reason_required",
            _("Say why: the reason goes on the model's history."),
            field="reason",
        )
    return text[:2000]


def _model_version_for_update(model_name: str, model_version: str) -> ModelVersion:
    row = (
        ModelVersion.objects.select_for_update()
        .filter(model_name=model_name, model_version=model_version)
        .first()
    )
    if row is None:
        raise NotFound(
            _("No model version %(name)s %(version)s has been loaded.")
            % {"name": model_name, "version": model_version}
        )
    return row


def _state_change(row: ModelVersion, state: str, *, actor, reason: str, request, queued=0):
    row.state, row.state_changed_at = state, timezone.now()
    row.save(update_fields=["state", "state_changed_at"])
    change = ModelVersionChange.objects.create(
        model_version=row, state=state, actor=actor, actor_label=actor.get_username(),
        reason=reason, queued=queued,
    )  # fmt: skip
    audit_record(
        actor=actor,
        action=f"triage.model_version.{'pause' if state == VersionState.PAUSED else 'resume'}",
        target=row,
        request=request,
        detail={
            "model_name": row.model_name,
            "model_version": row.model_version,
            "reason": reason,
            "queued_for_retriage": queued,
            "change_id": change.pk,
        },
    )
    return change


def model_version_pause(
    *, model_name: str, model_version: str, actor, reason: str, request=None
) -> ModelVersion:
    """Stop a model version: from the next triage job on it runs nothing, and each study it
    would have read is remembered as awaiting it. A run already in progress may finish."""
    _require_manager(actor)
    reason = _reason(reason)
    with transaction.atomic():
        row = _model_version_for_update(model_name, model_version)
        if row.is_paused:
            raise Conflict(
                "model_version_paused", _("%(version)s is already paused.") % {"version": row}
            )
        _state_change(row, VersionState.PAUSED, actor=actor, reason=reason, request=request)
    log.warning("model version %s paused by %s: %s", row, actor.get_username(), reason)
    return row


def model_version_resume(
    *, model_name: str, model_version: str, actor, reason: str, request=None
) -> ModelVersion:
    """Let a paused version run again, and queue a re-triage job for every study that
    completed while it was paused (its current version, not yet read by that model), in the
    same transaction: the jobs exist only if the resume commits."""
    _require_manager(actor)
    reason = _reason(reason)
    with transaction.atomic():
        row = _model_version_for_update(model_name, model_version)
        if not row.is_paused:
            raise Conflict(
                "model_version_active", _("%(version)s is not paused.") % {"version": row}
            )
        queued = triage_awaiting_release(model_name=model_name, model_version=model_version)
        _state_change(
            row, VersionState.ACTIVE, actor=actor, reason=reason, request=request, queued=queued
        )
    log.info("model version %s resumed by %s; %d studies queued", row, actor, queued)
    return row


def triage_awaiting_record(*, study, study_version: int, versions: list[ModelVersion]) -> None:
    """The study version completed while these (paused) model versions were made for it."""
    with transaction.atomic():
        for row in versions:
            _awaiting, created = TriageAwaiting.objects.update_or_create(
                study=study,
                model_name=row.model_name,
                model_version=row.model_version,
                defaults={"study_version": study_version, "queued_at": None},
            )
            audit_record(
                actor=SYSTEM_TRIAGE,
                action="triage.awaiting",
                target=study,
                hospital=study.hospital_id,
                patient_id=study.patient_id,
                detail={
                    "model_name": row.model_name,
                    "model_version": row.model_version,
                    "study_version": study_version,
                    "new": created,
                    "why": "model version paused",
                },
            )
    log.info("study %s v%s awaits %s", study.pk, study_version, ", ".join(map(str, versions)))


def _defer_retriage(study_id: int) -> bool:
    """Queue a re-triage of the study unless one is already waiting (its queueing lock)."""
    job = app.configure_task(
        name=RETRIAGE_TASK, allow_unknown=False, queueing_lock=f"triage-retriage-{study_id}"
    )
    try:
        # A savepoint: the queueing lock's unique violation must not abort the caller's
        # transaction (the resume).
        with transaction.atomic():
            job.defer(study_id=study_id)
    except AlreadyEnqueued:
        return False  # the waiting job runs every model still missing, this one included
    return True


def triage_awaiting_release(*, model_name: str, model_version: str) -> int:
    """Queue a re-triage job for each study still awaiting this model version on its current
    version; returns how many studies. Rows left behind by a newer study version are dropped
    (that version's own job decides). In the caller's transaction, or one of its own."""
    with transaction.atomic():
        rows = TriageAwaiting.objects.filter(model_name=model_name, model_version=model_version)
        rows.exclude(study_version=F("study__version")).delete()
        study_ids = sorted(set(rows.values_list("study_id", flat=True)))
        for study_id in study_ids:
            _defer_retriage(study_id)
        rows.filter(study_id__in=study_ids).update(queued_at=timezone.now())
    return len(study_ids)


def triage_awaiting_release_due(*, loaded: list[LoadedModel], now=None) -> int:
    """The periodic backstop: studies awaiting a model version that may speak again are
    queued. That is a version resumed (its resume queued them already, unless that job was
    lost), or a paused one that a newer version of the same model, active and loaded in this
    worker, replaces. Rows queued within REQUEUE_AFTER are left to the job already queued."""
    now = now or timezone.now()
    versions = model_versions_register(loaded)
    speaking = {name for (name, _), row in versions.items() if not row.is_paused}
    due = (
        TriageAwaiting.objects.filter(
            Q(queued_at__isnull=True) | Q(queued_at__lt=now - REQUEUE_AFTER)
        )
        .values_list("model_name", "model_version")
        .distinct()
    )
    active = set(
        ModelVersion.objects.filter(state=VersionState.ACTIVE).values_list(
            "model_name", "model_version"
        )
    )
    queued = 0
    for name, version in sorted(set(due)):
        if name in speaking or (name, version) in active:
            queued += triage_awaiting_release(model_name=name, model_version=version)
    return queued


def study_retriage(*, study_id: int) -> list[TriageRun]:
    """Run, on the study as it is now, every active model that has not read it yet."""
    study = Study.objects.filter(pk=study_id).only("id", "version").first()
    if study is None:
        log.warning("study %s to re-triage no longer exists", study_id)
        return []
    return triage_study_version(study_id=study_id, version=study.version, only_missing=True)
