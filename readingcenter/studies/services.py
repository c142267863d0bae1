"""Every write to studies and orders. Each function owns its transaction, audit and hints."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from readingcenter import hooks
from readingcenter.audit.services import audit_record
from readingcenter.errors import Conflict, DomainError
from readingcenter.studies import hints
from readingcenter.studies.models import (
    Order,
    OrderStatus,
    PatientMerge,
    Priority,
    Study,
    StudyEvent,
    StudyStatus,
)
from readingcenter.studies.priority import most_urgent
from readingcenter.studies.priority import signals as priority_signals

SYSTEM_INGEST = "system:ingest"


def study_event_record(study: Study, kind: str, *, seq: int | None = None, **detail) -> StudyEvent:
    """One line on the study's timeline (``seq``: the Orthanc change that caused it, if any)."""
    return StudyEvent.objects.create(study=study, kind=kind, change_seq=seq, detail=detail)


def study_changed(study: Study) -> None:
    """After a write to a study: let the layers above follow it, announce it after commit.

    Only a complete study moves its worklist case (opening it, or new priority, AI result,
    series); a study that a late series re-opened keeps its case as it was until it completes
    again.
    """
    if study.status == StudyStatus.COMPLETE and not study.is_prior:
        # Hook "studies.study_changed", publish(study=): a complete study was written, in the
        # writer's transaction (the worklist opens or updates its case). A prior has no case.
        hooks.publish("studies.study_changed", study=study)
    hints.on_commit_study_changed(study)


def study_priority_refresh(study: Study, *, actor_label: str, seq: int | None = None) -> None:
    """Raise the study's priority to its most urgent signal (order, header words, ED origin).

    Automatic signals only ever raise it, and never override a radiologist's or manager's
    choice. The change and its reason go on the study's timeline.
    """
    if study.priority_set_by_id:
        return
    signal = most_urgent(priority_signals(study))
    if signal is None or Priority.rank(signal.priority) >= Priority.rank(study.priority):
        return
    old, study.priority, study.priority_reason = study.priority, signal.priority, signal.reason
    study_event_record(
        study,
        StudyEvent.Kind.PRIORITY_CHANGED,
        seq=seq,
        old=old,
        new=signal.priority,
        by=actor_label,
        reason=signal.reason,
    )


def study_set_priority(*, study_id: int, priority: str, reason: str, actor, request=None) -> Study:
    """A radiologist or manager sets the priority, up or down, and says why."""
    priority = Priority.parse(priority)
    if not reason.strip():
        raise DomainError("reason_required", _("Say why the priority changes."), field="reason")
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study_id)
        old = study.priority
        study.priority, study.priority_reason, study.priority_set_by = priority, reason, actor
        study.save(update_fields=["priority", "priority_reason", "priority_set_by", "updated_at"])
        study_event_record(
            study,
            StudyEvent.Kind.PRIORITY_CHANGED,
            old=old,
            new=priority,
            by=actor.get_username(),
            reason=reason,
        )
        audit_record(
            actor=actor,
            action="study.set_priority",
            target=study,
            hospital=study.hospital_id,
            patient_id=study.patient_id,
            request=request,
            detail={"old": old, "new": priority, "reason": reason},
        )
        study_changed(study)
    return study


def study_match_order(study: Study, *, seq: int | None = None) -> bool:
    """Link the study to its hospital's order with the same accession number, if one waits."""
    if study.order_id or not study.hospital_id or not study.accession_number:
        return False
    order = (
        Order.objects.select_for_update()
        .filter(hospital_id=study.hospital_id, accession_number=study.accession_number)
        .first()
    )
    if order is None or Study.objects.filter(order=order).exclude(pk=study.pk).exists():
        return False
    study.order = order
    study_event_record(study, StudyEvent.Kind.ORDER_MATCHED, seq=seq, order_id=order.id)
    study_priority_refresh(study, actor_label=SYSTEM_INGEST, seq=seq)
    return True


def study_mark_complete(study: Study, *, seq: int | None, reason: str) -> None:
    """Receiving -> complete (or a complete study that got more data): a new version to triage."""
    study.status = StudyStatus.COMPLETE
    study.completed_at = timezone.now()
    study.completed_change_seq = seq
    study.version += 1
    study_event_record(
        study, StudyEvent.Kind.COMPLETED, seq=seq, version=study.version, reason=reason
    )
    audit_record(
        actor=SYSTEM_INGEST,
        action="study.complete",
        target=study,
        hospital=study.hospital_id,
        patient_id=study.patient_id,
        detail={"version": study.version, "reason": reason, "instances": study.instance_count},
    )
    # Hook "studies.study_completed", publish(study=, version=): a new version of the study is
    # complete, in the completion transaction. Triage defers its job here, so the job exists
    # only if the completion commits (Procrastinate's Django connector shares the connection):
    # that is our outbox. A prior fetched for comparison is not triaged: it was read long ago.
    if not study.is_prior:
        hooks.publish("studies.study_completed", study=study, version=study.version)


def study_assign_hospital(*, study_id: int, hospital, actor, request=None) -> Study:
    """A manager releases a quarantined study to a hospital; a stable study completes at once."""
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study_id)
        if study.status != StudyStatus.QUARANTINED:
            raise Conflict(
                "study_not_quarantined",
                _("The study is %(status)s, not quarantined.") % {"status": study.status},
            )
        previous = study.quarantine_reason
        study.hospital = hospital
        study.quarantine_reason = ""
        study.quarantine_detail = ""
        study_event_record(
            study, StudyEvent.Kind.ASSIGNED, hospital=hospital.code, by=actor.get_username()
        )
        study_match_order(study)
        if study.completed_at is not None:
            study_mark_complete(study, seq=None, reason="assigned from quarantine")
        else:
            study.status = StudyStatus.RECEIVING
        study.save()
        audit_record(
            actor=actor,
            action="study.assign_hospital",
            target=study,
            hospital=hospital,
            patient_id=study.patient_id,
            request=request,
            detail={"hospital": hospital.code, "quarantine_reason": previous},
        )
        study_changed(study)
    return study


def study_reject(*, study_id: int, actor, reason: str, request=None) -> Study:
    """A manager rejects a quarantined study. It stays in Orthanc and here, marked rejected."""
    if not reason.strip():
        raise DomainError("reason_required", _("Say why the study is rejected."), field="reason")
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study_id)
        if not study.can_become(StudyStatus.REJECTED):
            raise Conflict(
                "study_not_quarantined",
                _("The study is %(status)s, not quarantined.") % {"status": study.status},
            )
        study.status = StudyStatus.REJECTED
        study.save(update_fields=["status", "updated_at"])
        study_event_record(study, StudyEvent.Kind.REJECTED, reason=reason, by=actor.get_username())
        audit_record(
            actor=actor,
            action="study.reject",
            target=study,
            hospital=study.hospital_id,
            patient_id=study.patient_id,
            request=request,
            detail={"reason": reason},
        )
        hints.on_commit_study_changed(study)
    return study


def order_create(
    *,
    hospital,
    actor,
    accession_number: str,
    requested_procedure: str,
    priority: str = Priority.ROUTINE,
    clinical_history: str = "",
    referring_physician: str = "",
    callback_phone: str = "",
    patient_id: str = "",
    request=None,
    **hl7_fields,
) -> Order:
    """Record a hospital's order; if its study already arrived, they are matched now.

    ``hl7_fields``: what an HL7 order adds (issuer_of_patient_id, patient_name,
    placer_order_number, filler_order_number, source).
    """
    priority = Priority.parse(priority)
    try:
        with transaction.atomic():
            order = Order.objects.create(
                hospital=hospital,
                accession_number=accession_number.strip(),
                requested_procedure=requested_procedure,
                priority=priority,
                clinical_history=clinical_history,
                referring_physician=referring_physician,
                callback_phone=callback_phone,
                patient_id=patient_id,
                created_by=actor if getattr(actor, "is_authenticated", False) else None,
                **hl7_fields,
            )
            # Lock the study so that a follower completing it at this instant sees either
            # no order or the order, never half of the match.
            study = (
                Study.objects.select_for_update()
                .filter(
                    hospital=hospital,
                    accession_number=order.accession_number,
                    order__isnull=True,
                )
                .first()
            )
            if study is not None and study_match_order(study):
                study.save()
                study_changed(study)
            audit_record(
                actor=actor or "system",
                action="order.create",
                target=order,
                hospital=hospital,
                patient_id=patient_id,
                request=request,
                detail={
                    "accession_number": order.accession_number,
                    "priority": priority,
                    "matched_study": study.id if study is not None and study.order_id else None,
                },
            )
    except IntegrityError as exc:
        raise DomainError(
            "order_exists",
            _("An order with accession number %(accession)s already exists for this hospital.")
            % {"accession": repr(accession_number)},
            field="accession_number",
        ) from exc
    return order


ORDER_CHANGEABLE = ("requested_procedure", "priority", "clinical_history", "referring_physician",
                    "callback_phone", "patient_name")  # fmt: skip


def order_change(*, order_id: int, actor, changes: dict, request=None) -> Order:
    """The hospital changed its order (HL7 ORC-1 XO): new priority, history, procedure...

    A matched study takes the new priority at once (its case moves on the worklist).
    """
    unknown = set(changes) - set(ORDER_CHANGEABLE)
    if unknown:
        raise DomainError(
            "order_field_unknown",
            _("Cannot change %(fields)s on an order.") % {"fields": sorted(unknown)},
        )
    if "priority" in changes:
        changes["priority"] = Priority.parse(changes["priority"])
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status == OrderStatus.CANCELLED:
            raise Conflict("order_cancelled", _("The order was cancelled: it cannot change."))
        before = {k: getattr(order, k) for k in changes}
        for field, new in changes.items():
            setattr(order, field, new)
        order.save()
        changed = {k: [before[k], v] for k, v in changes.items() if before[k] != v}
        study = Study.objects.select_for_update().filter(order=order).first()
        if study is not None and changed:
            study_event_record(study, StudyEvent.Kind.ORDER_CHANGED, fields=sorted(changed))
            study_priority_refresh(study, actor_label="hospital order change")
            study.save()
            study_changed(study)
        audit_record(
            actor=actor,
            action="order.change",
            target=order,
            hospital=order.hospital_id,
            patient_id=order.patient_id,
            request=request,
            detail={"changed": changed, "study": study.id if study else None},
        )
    return order


def order_cancel(*, order_id: int, actor, reason: str, request=None) -> Order:
    """The hospital cancelled its order (HL7 ORC-1 CA): its study leaves the worklist.

    Its case, if open, is taken off with the reason, and a reader who had claimed it is told
    (hook ``studies.order_cancelled``, publish(study=, order=, reason=), in this transaction).
    A study that arrives later for a cancelled order opens no case.
    """
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status == OrderStatus.CANCELLED:
            return order  # a cancel sent twice: the first one did it
        order.status = OrderStatus.CANCELLED
        order.cancel_reason = reason.strip()[:500]
        order.save(update_fields=["status", "cancel_reason", "updated_at"])
        study = Study.objects.select_for_update().filter(order=order).first()
        if study is not None:
            study_event_record(study, StudyEvent.Kind.ORDER_CANCELLED, reason=order.cancel_reason)
            study.save()
            hooks.publish("studies.order_cancelled", study=study, order=order, reason=reason)
        audit_record(
            actor=actor,
            action="order.cancel",
            target=order,
            hospital=order.hospital_id,
            patient_id=order.patient_id,
            request=request,
            detail={"reason": order.cancel_reason, "study": study.id if study else None},
        )
    return order


def patients_merge(*, hospital, old: tuple[str, str], new: tuple[str, str], actor,
                   source: str = "") -> PatientMerge:  # fmt: skip
    """The hospital says patient ``old`` (id, issuer) is ``new``: his studies and orders move
    to the surviving id, within this hospital only. Reports follow their studies. Recorded
    for an undo; the DICOM files in Orthanc keep the id they were sent with."""
    (old_id, old_issuer), (new_id, new_issuer) = old, new
    if not old_id or not new_id:
        raise DomainError("patient_id_missing", _("A merge needs both patient ids (PID-3, MRG-1)."))
    if (old_id, old_issuer) == (new_id, new_issuer):
        raise DomainError("merge_same_patient", _("The two patient ids of the merge are the same."))
    with transaction.atomic():
        studies = Study.objects.select_for_update().filter(
            hospital=hospital, patient_id=old_id, issuer_of_patient_id=old_issuer
        )
        orders = Order.objects.select_for_update().filter(
            hospital=hospital, patient_id=old_id, issuer_of_patient_id=old_issuer
        )
        merge = PatientMerge.objects.create(
            hospital=hospital, old_patient_id=old_id, old_issuer=old_issuer,
            new_patient_id=new_id, new_issuer=new_issuer,
            study_ids=[s.pk for s in studies], order_ids=[o.pk for o in orders], source=source,
        )  # fmt: skip
        Study.objects.filter(pk__in=merge.study_ids).update(
            patient_id=new_id, issuer_of_patient_id=new_issuer
        )
        Order.objects.filter(pk__in=merge.order_ids).update(
            patient_id=new_id, issuer_of_patient_id=new_issuer
        )
        for study in Study.objects.filter(pk__in=merge.study_ids):
            study_event_record(study, StudyEvent.Kind.PATIENT_MERGED, old=old_id, new=new_id,
                               merge=merge.pk)  # fmt: skip
            hints.on_commit_study_changed(study)
        audit_record(
            actor=actor, action="patient.merge", target=merge, hospital=hospital,
            patient_id=new_id,
            detail={"old": [old_id, old_issuer], "new": [new_id, new_issuer],
                    "studies": merge.study_ids, "orders": merge.order_ids, "source": source},
        )  # fmt: skip
    return merge


def patients_merge_undo(*, merge_id: int, actor, reason: str, request=None) -> PatientMerge:
    """A manager undoes a merge: what it moved goes back to the old id (what arrived for the
    surviving id since stays with it)."""
    if not getattr(actor, "is_manager", False):
        raise DomainError("not_a_manager", _("Only managers undo a patient merge."), status=403)
    if not reason.strip():
        raise DomainError("reason_required", _("Say why the merge is undone."), field="reason")
    with transaction.atomic():
        merge = PatientMerge.objects.select_for_update().get(pk=merge_id)
        if merge.undone_at is not None:
            raise Conflict("merge_undone", _("This merge was already undone."))
        Study.objects.filter(pk__in=merge.study_ids).update(
            patient_id=merge.old_patient_id, issuer_of_patient_id=merge.old_issuer
        )
        Order.objects.filter(pk__in=merge.order_ids).update(
            patient_id=merge.old_patient_id, issuer_of_patient_id=merge.old_issuer
        )
        merge.undone_at, merge.undone_by, merge.undo_reason = timezone.now(), actor, reason
        merge.save(update_fields=["undone_at", "undone_by", "undo_reason"])
        for study in Study.objects.filter(pk__in=merge.study_ids):
            study_event_record(study, StudyEvent.Kind.PATIENT_UNMERGED, merge=merge.pk,
                               reason=reason)  # fmt: skip
            hints.on_commit_study_changed(study)
        audit_record(
            actor=actor, action="patient.merge_undo", target=merge, hospital=merge.hospital_id,
            patient_id=merge.old_patient_id, request=request,
            detail={"reason": reason, "studies": merge.study_ids, "orders": merge.order_ids},
        )  # fmt: skip
    return merge
