"""Recording what the AI found, and letting it escalate (never lower) a study's priority."""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction

from readingcenter.audit.services import audit_record
from readingcenter.studies import hints
from readingcenter.studies.models import Study, StudyEvent
from readingcenter.studies.services import _event, study_priority_refresh
from triage.models import TriageRun
from triage.outcome import RunOutcome, draft_sentences

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
            _event(study, StudyEvent.Kind.TRIAGED, model=outcome.model_name,
                   version=outcome.model_version, status=outcome.status,
                   flagged=run.flagged, reason=outcome.reason)  # fmt: skip
            audit_record(actor=actor, action="triage.run", target=run, hospital=study.hospital_id,
                         patient_id=study.patient_id,
                         detail={"study_version": study_version, "status": outcome.status,
                                 "flags": outcome.flags, "model_version": outcome.model_version,
                                 "weights_sha256": outcome.weights_sha256})  # fmt: skip
            # Only a run on the study as it is now may move its priority: a run on a version
            # that a late series has since replaced speaks about other images.
            if study.version == study_version and run.flagged:
                study_priority_refresh(
                    study, actor_label=f"AI {outcome.model_name} {outcome.model_version}"
                )
                study.save(update_fields=["priority", "priority_reason", "updated_at"])
            hints.on_commit_study_changed(study)
    except IntegrityError:
        # Two workers finished the same run at the same instant: the other one recorded it.
        return TriageRun.objects.get(**key)
    return run
