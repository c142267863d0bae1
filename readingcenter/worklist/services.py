"""Every write to the worklist: cases open, claims, releases, reassignment, auto-assignment.

The one-reader rule lives in the database: a claim is one conditional UPDATE (``WHERE
state = 'unread'``) whose row count is checked, or a ``SELECT ... FOR UPDATE SKIP LOCKED``
for "next case", so two radiologists can never own one case whatever the timing. Each write
audits itself and announces the case after commit.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from readingcenter import hooks
from readingcenter.accounts.models import Role, User
from readingcenter.accounts.moments import moment_text
from readingcenter.accounts.selectors import privileged_hospital_ids, privileged_hospitals_q
from readingcenter.audit.services import audit_event, audit_record
from readingcenter.db import insert_sql, update_sql
from readingcenter.errors import Conflict, DomainError, NotFound
from readingcenter.studies import hints
from readingcenter.studies.models import OrderStatus, Priority, Study
from readingcenter.worklist.models import (
    CLAIMED_STATES,
    OPEN_STATES,
    AssignmentDecision,
    Case,
    CaseState,
)
from readingcenter.worklist.selectors import (
    case_claim_projection,
    case_readers,
    case_rows_projection,
    radiologist_profile,
)
from readingcenter.worklist.subspecialty import subspecialty_for

log = logging.getLogger(__name__)

SYSTEM_WORKLIST = "system:worklist"
SYSTEM_AUTO_ASSIGN = "system:auto-assign"

WORKLIST_ALL_GROUP = "worklist.all"


def worklist_hospital_group(hospital_id: int) -> str:
    return f"worklist.hospital.{hospital_id}"


def announce_case(case: Case, event: str) -> None:
    """A hint after commit to managers and to readers of the case's hospital; never state."""
    message = {
        "type": "case.hint",
        "case_id": case.id,
        "study_id": case.study_id,
        "hospital_id": case.hospital_id,
        "state": case.state,
        "priority": case.priority,
        "event": event,
    }
    hints.on_commit_send(
        ("case", case.id),
        [(WORKLIST_ALL_GROUP, message), (worklist_hospital_group(case.hospital_id), message)],
    )


def _require_radiologist(user) -> None:
    if not (getattr(user, "is_authenticated", False) and user.is_active and user.is_radiologist):
        raise DomainError(
            "not_a_radiologist", _("Only radiologists claim cases; managers reassign."), status=403
        )


AI_NOTE_LENGTH = 500


def _ai_summary(study: Study) -> tuple[float, bool, str]:
    """The AI's score and flag for the worklist order, from succeeded runs only (a
    low-confidence score orders nothing), and why a model made for the study kept silent."""
    from triage.selectors import triage_runs_succeeded_and_withheld

    runs, withheld = triage_runs_succeeded_and_withheld(study)
    score, flagged = 0.0, False
    for run in runs:
        for value in (run.probabilities or {}).values():
            if isinstance(value, int | float):
                score = max(score, float(value))
        flagged = flagged or bool(run.flagged)
    note = "; ".join(
        f"{run.model_name}: {run.reason or run.get_status_display().lower()}" for run in withheld
    )
    return score, flagged, note[:AI_NOTE_LENGTH]


def _promise(hospital_id: int, priority: str):
    """The turnaround promise for a hospital's cases of one priority, from the app that keeps
    promises (sla, above us). Hook point "worklist.case_deadline": first(hospital_id=, priority=)
    answers an object whose ``deadline(start)`` and ``at_risk_from(start)`` are a case's due_at
    and at_risk_at for a clock started at ``start``. Asked inside the caller's transaction."""
    promise = hooks.first("worklist.case_deadline", hospital_id=hospital_id, priority=priority)
    if promise is None:
        # A case must always get a deadline: no silent default here.
        raise ImproperlyConfigured("Nothing answers worklist.case_deadline (readingcenter.sla).")
    return promise


def _set_deadline(case: Case) -> None:
    target = _promise(case.hospital_id, case.priority)
    case.due_at = target.deadline(case.arrived_at)
    case.at_risk_at = target.at_risk_from(case.arrived_at)


# -- cases follow their studies -------------------------------------------------------------------


def case_sync_from_study(study: Study) -> Case | None:
    """Open the study's case when it becomes readable, and keep its ordering columns current.

    Called inside the transaction that changed the study (completion, priority, AI run). A
    study that is not (or no longer) readable keeps its case: only signing or a manager
    takes a case off the worklist.
    """
    existing = Case.objects.select_for_update().filter(study_id=study.id).first()
    if existing is None and not study.is_readable:
        return None
    if existing is None and study.order_id and study.order.status == OrderStatus.CANCELLED:
        return None  # the hospital cancelled the order before its images arrived
    series = list(study.series.filter(is_own=False).values_list("series_description", flat=True))
    modalities = list(study.modalities or [])
    derived = {
        "modalities": modalities,
        "modality": modalities[0] if modalities else "",
        "body_part": study.body_part_examined or "",
        "subspecialty": subspecialty_for(
            body_part=study.body_part_examined,
            descriptions=(
                study.study_description,
                study.requested_procedure_description,
                *series,
            ),
            modalities=modalities,
        ),
    }
    score, flagged, note = _ai_summary(study)
    if existing is None:
        case = Case(
            study=study,
            hospital_id=study.hospital_id,
            priority=study.priority,
            priority_rank=Priority.rank(study.priority),
            arrived_at=study.completed_at or timezone.now(),
            ai_score=score,
            ai_flagged=flagged,
            ai_note=note,
            **derived,
        )
        _set_deadline(case)
        case.save()
        audit_record(
            actor=SYSTEM_WORKLIST,
            action="case.open",
            target=case,
            hospital=case.hospital_id,
            patient_id=study.patient_id,
            detail={"priority": case.priority, "due_at": case.due_at.isoformat()},
        )
        announce_case(case, "opened")
        _maybe_auto_assign(case)
        return case

    case = existing
    changed = []
    if case.priority != study.priority:
        case.priority, case.priority_rank = study.priority, Priority.rank(study.priority)
        _set_deadline(case)
        changed += ["priority", "priority_rank", "due_at", "at_risk_at"]
    for field, value in derived.items():
        if getattr(case, field) != value:
            setattr(case, field, value)
            changed.append(field)
    if (case.ai_score, case.ai_flagged, case.ai_note) != (score, flagged, note):
        case.ai_score, case.ai_flagged, case.ai_note = score, flagged, note
        changed += ["ai_score", "ai_flagged", "ai_note"]
    if changed:
        case.save(update_fields=[*changed, "updated_at"])
        announce_case(case, "priority" if "priority" in changed else "updated")
        if "priority" in changed:
            _maybe_auto_assign(case)
    return case


def cases_recompute_deadlines(*, hospital_id: int, priority: str) -> int:
    """A hospital's promise changed: move the deadlines of its open cases of that priority."""
    target = _promise(hospital_id, priority)
    moved = 0
    for case in Case.objects.select_for_update().filter(
        hospital_id=hospital_id, priority=priority, state__in=OPEN_STATES
    ):
        case.due_at = target.deadline(case.arrived_at)
        case.at_risk_at = target.at_risk_from(case.arrived_at)
        case.save(update_fields=["due_at", "at_risk_at", "updated_at"])
        announce_case(case, "deadline")
        moved += 1
    return moved


# -- claiming -------------------------------------------------------------------------------------


def _claimed_fields(user, now) -> dict:
    return {
        "state": CaseState.CLAIMED,
        "claimed_by": user,
        "claimed_at": now,
        "last_activity_at": now,
        "updated_at": now,
    }


def _explain_refusal(case: Case, user) -> DomainError:
    if case.state in CLAIMED_STATES and case.claimed_by_id != user.id:
        reader = case.claimed_by
        name = reader.get_full_name() or reader.get_username()
        since = moment_text(case.claimed_at)
        if since:
            message = _("Already claimed by %(name)s since %(since)s.") % {
                "name": name,
                "since": since,
            }
        else:
            message = _("Already claimed by %(name)s.") % {"name": name}
        return Conflict("already_claimed", message)
    return _closed(case)


def _closed(case: Case) -> Conflict:
    return Conflict(
        "case_closed",
        _("The case is %(state)s.") % {"state": str(case.get_state_display()).lower()},
    )


def case_claim(*, case_id: int, user, request=None) -> Case:
    """Claim one case. Exactly one of any number of simultaneous claims wins."""
    _require_radiologist(user)
    visible = Case.objects.filter(pk=case_id).filter(privileged_hospitals_q(user))
    case = visible.select_related("claimed_by").first()
    if case is None:
        raise NotFound(_("No such case."))
    profile = radiologist_profile(user)
    if profile is not None and not profile.reads_modality(case.modalities):
        raise Conflict(
            "modality_not_read",
            _(
                "Your profile does not list %(modalities)s; ask a manager to reassign it if you "
                "should read it."
            )
            % {"modalities": ", ".join(case.modalities) or _("this modality")},
        )
    now = timezone.now()
    with transaction.atomic():
        won = visible.filter(state=CaseState.UNREAD).update(**_claimed_fields(user, now))
        case = Case.objects.select_related("claimed_by", "study", "hospital").get(pk=case_id)
        if not won:
            if case.state in CLAIMED_STATES and case.claimed_by_id == user.id:
                return case  # pressing twice is not an error
            raise _explain_refusal(case, user)
        audit_record(
            actor=user,
            action="case.claim",
            target=case,
            hospital=case.hospital_id,
            patient_id=case.study.patient_id,
            request=request,
        )
        announce_case(case, "claimed")
    return case


def _own_open_claim(user, hospitals: set[int], *, after: int | None) -> Case | None:
    """The reader's own claim with the nearest deadline (the one he is leaving excepted)."""
    mine = {"hospital_id__in": hospitals, "claimed_by_id": user.pk, "state__in": CLAIMED_STATES}
    qs = Case.objects.filter(**mine)
    if after is not None:
        qs = qs.exclude(pk=after)
    # Most presses find no other claim of his: the id alone is asked first, a query the ORM
    # builds and compiles in a third of the time of the row with its study, hospital and
    # reader (1.3 against 3.5 ms on a busy machine; README "The worklist and the viewer").
    pk = qs.order_by("due_at", "id").values_list("pk", flat=True).first()
    if pk is None:
        return None
    # What a worklist row shows, no more: the study table is wide. Filtered again, so a claim
    # he released in between is not handed back as his.
    return case_rows_projection().filter(pk=pk, **mine).first()


def _readable_unread(user, hospitals: set[int]):
    """Unread cases this radiologist may read: his hospitals, modalities and subspecialties
    (the eligibility rule of auto-assignment and of the dashboard's coverage), in worklist
    order, as "next case" hands them out (case_claim_projection)."""
    qs = case_claim_projection().filter(hospital_id__in=hospitals, state=CaseState.UNREAD)
    profile = radiologist_profile(user)
    if profile is not None and profile.modalities:
        qs = qs.filter(modalities__overlap=profile.modalities)
    if profile is not None and profile.subspecialties:
        qs = qs.filter(subspecialty__in=profile.subspecialties)
    return qs


def case_next(*, user, after: int | None = None, request=None) -> Case | None:
    """The reader's next case: his own open claims first, the nearest deadline first (a STAT
    he holds must not breach while he opens new ones); else he claims the first unread case,
    in worklist order, of his hospitals, modalities and subspecialties. ``after``: the case he
    is leaving, which is not handed back to him.

    SKIP LOCKED lets twenty radiologists press at once: each takes the first row nobody else
    is holding, so they get distinct cases instead of queueing behind one lock.
    """
    _require_radiologist(user)
    # His hospitals as ids, read once for both queries (see worklist.selectors: planned in a
    # third of the time a subquery takes).
    hospitals = privileged_hospital_ids(user)
    if not hospitals:
        return None
    own = _own_open_claim(user, hospitals, after=after)
    if own is not None:
        return own
    now = timezone.now()
    # Built before the transaction: the reader's profile is read here, not under the lock.
    unread = _readable_unread(user, hospitals)
    with transaction.atomic():
        # The row with what the answer shows (its study and hospital), locked alone: the
        # claim below is then the only other statement, and the case is not read again.
        case = unread.select_for_update(skip_locked=True, of=("self",)).first()
        if case is None:
            return None
        fields = _claimed_fields(user, now)
        for name, value in fields.items():
            setattr(case, name, value)
        case.state = CaseState.CLAIMED.value  # as read back: a plain string
        event = audit_event(
            actor=user,
            action="case.claim",
            target=case,
            hospital=case.hospital_id,
            patient_id=case.study.patient_id,
            request=request,
            detail={"via": "next"},
        )
        # The claim and its audit row in one statement: one round trip fewer while the row
        # is locked (the transaction is then the bare SQL's: pick, update).
        event_sql, event_params = insert_sql([event])
        claim_sql, claim_params = update_sql(
            Case.objects.filter(pk=case.pk, state=CaseState.UNREAD), fields
        )
        with connection.cursor() as cursor:
            # Both are the ORM compiler's, with placeholders: no value is in the text.
            cursor.execute(
                f"WITH event AS ({event_sql}) {claim_sql}", [*event_params, *claim_params]
            )
        announce_case(case, "claimed")
    return case


def case_release(*, case_id: int, user, reason: str = "", request=None) -> Case:
    """The reader (or a manager) gives a claimed case back to the pool."""
    visible = Case.objects.filter(pk=case_id)
    if not user.is_manager:
        _require_radiologist(user)
        visible = visible.filter(privileged_hospitals_q(user))
    with transaction.atomic():
        case = visible.select_for_update(of=("self",)).select_related("claimed_by", "study").first()
        if case is None:
            raise NotFound(_("No such case."))
        if case.state not in CLAIMED_STATES:
            raise Conflict("not_claimed", _("The case is not claimed."))
        if case.claimed_by_id != user.id and not user.is_manager:
            raise _explain_refusal(case, user)
        previous = case.claimed_by
        case.state, case.claimed_by, case.claimed_at = CaseState.UNREAD, None, None
        case.save(update_fields=["state", "claimed_by", "claimed_at", "updated_at"])
        audit_record(
            actor=user,
            action="case.release",
            target=case,
            hospital=case.hospital_id,
            patient_id=case.study.patient_id,
            request=request,
            detail={"previous": previous.get_username(), "reason": reason},
        )
        announce_case(case, "released")
    return case


def case_reassign(*, case_id: int, to_user: User | None, actor, reason: str, request=None) -> Case:
    """A manager moves a case to another reader, or back to the pool (to_user None)."""
    if not actor.is_manager:
        raise DomainError("not_a_manager", _("Only managers reassign cases."), status=403)
    if not reason.strip():
        raise DomainError("reason_required", _("Say why the case moves."), field="reason")
    with transaction.atomic():
        case = (
            Case.objects.select_for_update(of=("self",))
            .select_related("claimed_by", "study")
            .filter(pk=case_id)
            .first()
        )
        if case is None:
            raise NotFound(_("No such case."))
        if not case.is_open:
            raise _closed(case)
        candidates = []
        if to_user is not None:
            if not (to_user.is_active and to_user.role == Role.RADIOLOGIST):
                raise DomainError("not_a_radiologist", _("Cases go to radiologists."), field="to")
            if case.hospital_id not in privileged_hospital_ids(to_user):
                raise DomainError(
                    "no_privilege",
                    _("%(user)s holds no valid privilege at this hospital.")
                    % {"user": to_user.get_username()},
                    field="to",
                )
            candidates = [row for _user, row in case_readers(case, users=[to_user])]
        previous = case.claimed_by
        now = timezone.now()
        if to_user is None:
            case.state, case.claimed_by, case.claimed_at = CaseState.UNREAD, None, None
        else:
            if case.state == CaseState.UNREAD:
                case.state = CaseState.CLAIMED
            case.claimed_by, case.claimed_at, case.last_activity_at = to_user, now, now
        case.save(
            update_fields=["state", "claimed_by", "claimed_at", "last_activity_at", "updated_at"]
        )
        AssignmentDecision.objects.create(
            case=case,
            kind=AssignmentDecision.Kind.REASSIGN,
            rule="manager's decision" if to_user else "manager returned it to the pool",
            candidates=candidates,
            chosen=to_user,
            previous=previous,
            actor=actor.get_username(),
            reason=reason,
        )
        audit_record(
            actor=actor,
            action="case.reassign",
            target=case,
            hospital=case.hospital_id,
            patient_id=case.study.patient_id,
            request=request,
            detail={
                "from": previous.get_username() if previous else None,
                "to": to_user.get_username() if to_user else None,
                "reason": reason,
            },
        )
        announce_case(case, "reassigned")
    return case


def case_remove(*, case_id: int, actor, reason: str, request=None) -> Case:
    """A manager takes a case off the worklist (sent by mistake, a duplicate). Audited."""
    if not actor.is_manager:
        raise DomainError("not_a_manager", _("Only managers remove cases."), status=403)
    if not reason.strip():
        raise DomainError("reason_required", _("Say why the case is removed."), field="reason")
    with transaction.atomic():
        case = (
            Case.objects.select_for_update(of=("self",))
            .select_related("study")
            .filter(pk=case_id)
            .first()
        )
        if case is None:
            raise NotFound(_("No such case."))
        if not case.is_open:
            raise _closed(case)
        previous = case.claimed_by_id
        case.state, case.removed_reason = CaseState.REMOVED, reason
        case.save(update_fields=["state", "removed_reason", "updated_at"])
        audit_record(
            actor=actor,
            action="case.remove",
            target=case,
            hospital=case.hospital_id,
            patient_id=case.study.patient_id,
            request=request,
            detail={"reason": reason, "claimed_by": previous},
        )
        announce_case(case, "removed")
    return case


def case_cancel_for_order(*, study: Study, reason: str) -> Case | None:
    """The hospital cancelled the study's order: its open case leaves the worklist, with the
    reason; a reader who had claimed it is told on his page (the hint names the event) and
    finds the reason on the case. A signed case stays signed: its report already went."""
    case = (
        Case.objects.select_for_update(of=("self",))
        .select_related("study")
        .filter(study_id=study.id)
        .first()
    )
    if case is None or not case.is_open:
        return case
    reader = case.claimed_by_id
    case.state = CaseState.REMOVED
    case.removed_reason = f"Order cancelled by the hospital: {reason}".strip()[:500]
    case.save(update_fields=["state", "removed_reason", "updated_at"])
    audit_record(
        actor=SYSTEM_WORKLIST,
        action="case.order_cancelled",
        target=case,
        hospital=case.hospital_id,
        patient_id=study.patient_id,
        detail={"reason": reason, "claimed_by": reader},
    )
    announce_case(case, "order_cancelled")
    return case


def case_touch(*, case_id: int, user) -> bool:
    """The reader is still there (page heartbeat, viewer): keep his claim from expiring.

    At most one write per 15 seconds per case, whatever the number of tabs and requests.
    """
    now = timezone.now()
    return bool(
        Case.objects.filter(
            pk=case_id,
            claimed_by=user,
            state__in=CLAIMED_STATES,
            last_activity_at__lt=now - timedelta(seconds=15),
        ).update(last_activity_at=now)
    )


def claims_expire_idle(*, now=None) -> list[int]:
    """Return claims nobody has touched for WORKLIST_CLAIM_IDLE_MINUTES to the pool."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.WORKLIST_CLAIM_IDLE_MINUTES)
    expired = []
    with transaction.atomic():
        # SKIP LOCKED: a case being claimed or reassigned right now is not idle.
        idle = (
            Case.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(state__in=CLAIMED_STATES, last_activity_at__lt=cutoff)
            .select_related("claimed_by", "study")
        )
        for case in idle:
            previous = case.claimed_by
            case.state, case.claimed_by, case.claimed_at = CaseState.UNREAD, None, None
            case.save(update_fields=["state", "claimed_by", "claimed_at", "updated_at"])
            AssignmentDecision.objects.create(
                case=case,
                kind=AssignmentDecision.Kind.EXPIRED,
                rule=f"idle for more than {settings.WORKLIST_CLAIM_IDLE_MINUTES} min",
                previous=previous,
                actor=SYSTEM_WORKLIST,
            )
            audit_record(
                actor=SYSTEM_WORKLIST,
                action="case.claim_expired",
                target=case,
                hospital=case.hospital_id,
                patient_id=case.study.patient_id,
                detail={
                    "previous": previous.get_username(),
                    "last_activity_at": case.last_activity_at.isoformat(),
                },
            )
            announce_case(case, "released")
            expired.append(case.id)
    if expired:
        log.info("returned %d idle claims to the pool", len(expired))
    return expired


# -- auto-assignment ------------------------------------------------------------------------------


def _maybe_auto_assign(case: Case) -> None:
    if case.priority != Priority.STAT or case.state != CaseState.UNREAD:
        return
    if not case.hospital.auto_assign_stat:
        return
    case_auto_assign(case=case)


def case_auto_assign(*, case: Case) -> AssignmentDecision:
    """Give a STAT case to the eligible, on-duty reader with the lowest load, and say why.

    Eligible: a valid privilege at the hospital, on duty now, reads the modality and the
    subspecialty. If no subspecialist is on duty, any on-duty reader of the modality takes it
    (a STAT case must not wait for the neuroradiologist's shift); the decision says so.
    The caller holds the case's row lock.
    """
    readers = case_readers(case)
    people = [user for user, _ in readers]
    candidates = [row for _, row in readers]
    candidates.sort(key=lambda c: (not c["eligible"], c["load"], c["username"]))
    chosen_row, rule = None, ""
    eligible = [c for c in candidates if c["eligible"]]
    if eligible:
        chosen_row = eligible[0]
        rule = (
            f"STAT: on duty, privileged, reads {case.modality or 'the modality'} and "
            f"{case.subspecialty or 'the subspecialty'}; lowest load ({chosen_row['load']})"
        )
    else:
        fallback = [c for c in candidates if c["on_duty"] and c["modality"]]
        if fallback:
            chosen_row = fallback[0]
            rule = (
                f"STAT: no {case.subspecialty} reader on duty; on duty, privileged, reads "
                f"{case.modality or 'the modality'}; lowest load ({chosen_row['load']})"
            )
        else:
            rule = "STAT: no eligible reader on duty; left in the pool for the first taker"
    chosen = next((u for u in people if chosen_row and u.id == chosen_row["user_id"]), None)
    if chosen is not None:
        now = timezone.now()
        won = Case.objects.filter(pk=case.pk, state=CaseState.UNREAD).update(
            **_claimed_fields(chosen, now)
        )
        if won:
            case.refresh_from_db()
        else:  # pragma: no cover - the caller holds the lock; kept as the rule's guard
            chosen, rule = None, "case was claimed meanwhile"
    decision = AssignmentDecision.objects.create(
        case=case,
        kind=AssignmentDecision.Kind.AUTO,
        rule=rule,
        candidates=candidates,
        chosen=chosen,
        actor=SYSTEM_AUTO_ASSIGN,
    )
    audit_record(
        actor=SYSTEM_AUTO_ASSIGN,
        action="case.auto_assign",
        target=case,
        hospital=case.hospital_id,
        detail={
            "rule": rule,
            "chosen": chosen.get_username() if chosen else None,
            "candidates": len(candidates),
        },
    )
    if chosen is not None:
        announce_case(case, "claimed")
    return decision


def cases_open_missing() -> int:
    """Open cases for readable studies that have none (a database from before the worklist,
    or a study restored by hand). Idempotent; returns how many it opened."""
    opened = 0
    for study_id in Study.objects.filter(
        status="complete", hospital__isnull=False, case__isnull=True
    ).values_list("id", flat=True):
        with transaction.atomic():
            study = Study.objects.select_for_update().get(pk=study_id)
            if case_sync_from_study(study) is not None:
                opened += 1
    return opened
