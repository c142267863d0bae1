"""Recording what the AI found, and letting it escalate (never lower) a study's priority."""

from __future__ import annotations

import logging
from io import BytesIO

import pydicom
from django.db import IntegrityError, transaction
from pydicom.errors import InvalidDicomError

from readingcenter.audit.services import audit_record
from readingcenter.pacs.orthanc import OrthancError, get_client
from readingcenter.studies.models import Study, StudyEvent
from readingcenter.studies.services import (
    study_changed,
    study_event_record,
    study_priority_refresh,
)
from triage.core.outcome import RunOutcome, draft_sentences
from triage.core.pipeline import run_model
from triage.models import TriageRun
from triage.registry import loaded_models

log = logging.getLogger(__name__)


def triage_run_record(*, study_id: int, study_version: int, outcome: RunOutcome) -> TriageRun:
    """Record one model's run on one study version; a retried job gets the run it recorded."""
    key = {
        "study_id": study_id,
        "study_version": study_version,
        "model_name": outcome.model_name,
        "model_version": outcome.model_version,
    }
    try:
        with transaction.atomic():
            study = Study.objects.select_for_update().get(pk=study_id)
            existing = TriageRun.objects.filter(**key).first()
            if existing is not None:
                return existing
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
            actor = f"system:triage:{outcome.model_name}"
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
                actor=actor,
                action="triage.run",
                target=run,
                hospital=study.hospital_id,
                patient_id=study.patient_id,
                detail={
                    "study_version": study_version,
                    "status": outcome.status,
                    "flags": outcome.flags,
                    "model_version": outcome.model_version,
                    "weights_sha256": outcome.weights_sha256,
                },
            )
            # Only a run on the study as it is now may move its priority: a run on a version
            # that a late series has since replaced speaks about other images. And only a
            # succeeded one: low confidence, not applicable and failed never escalate
            # (run.flagged is empty for them, whatever their scores).
            if study.version == study_version and run.flagged:
                study_priority_refresh(
                    study, actor_label=f"AI {outcome.model_name} {outcome.model_version}"
                )
                study.save(update_fields=["priority", "priority_reason", "updated_at"])
            study_changed(study)
    except IntegrityError:
        # Two workers finished the same run at the same instant: the other one recorded it.
        return TriageRun.objects.get(**key)
    return run


def _fetch_series(client, orthanc_series_id: str) -> list:
    """The series' instances as pydicom datasets, straight from Orthanc."""
    datasets = []
    for instance_id in client.series(orthanc_series_id).get("Instances", []):
        datasets.append(pydicom.dcmread(BytesIO(client.instance_file(instance_id)), force=True))
    return datasets


def triage_study_version(*, study_id: int, version: int) -> list[TriageRun]:
    """Run every loaded model that could apply to this study version and record each run."""
    study = Study.objects.filter(pk=study_id).first()
    if study is None or study.version != version or not study.is_readable:
        log.info("study %s version %s is not (or no longer) to be triaged", study_id, version)
        return []
    models, _errors = loaded_models()
    if not models:
        log.warning("no triage model is loaded: study %s not triaged", study_id)
        return []
    rows = list(study.series.filter(is_own=False))
    client = get_client()
    fetched: dict[str, list] = {}
    runs = []
    for model in models:
        modalities = {m.upper() for m in model.card.applicability.modalities}
        relevant = [row for row in rows if row.modality.upper() in modalities]
        if not relevant:
            outcome = RunOutcome(
                model_name=model.card.name,
                model_version=model.card.version,
                weights_sha256=model.weights_sha256,
                status="not_applicable",
                reason=f"no {'/'.join(sorted(modalities))} series in this study "
                f"(it has {', '.join(study.modalities) or 'none'})",
            )
        else:
            try:
                series = []
                for row in relevant:
                    if row.orthanc_id not in fetched:
                        fetched[row.orthanc_id] = _fetch_series(client, row.orthanc_id)
                    series.append(fetched[row.orthanc_id])
            except (OrthancError, InvalidDicomError, OSError) as exc:
                outcome = RunOutcome(
                    model_name=model.card.name,
                    model_version=model.card.version,
                    weights_sha256=model.weights_sha256,
                    status="failed",
                    reason=f"could not fetch the images: {exc}"[:500],
                )
            else:
                outcome = run_model(model, series)
        runs.append(triage_run_record(study_id=study_id, study_version=version, outcome=outcome))
    return runs


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
