"""Writes about promises: policies, calendars, escalation tiers, and the escalation pass.

A changed promise or calendar moves the deadlines of the cases still open. The escalation
pass (every minute, sla.escalate) is computed from the database alone: which open cases have
a tier due that has no ``CaseEscalation`` row yet. Each step is one transaction that locks
the case row (SKIP LOCKED: a worker busy with it keeps it), inserts the step's row with
``ON CONFLICT DO NOTHING`` and acts only if that insert happened. The row, the step's
notifications, an auto-assignment and the audit line commit together or not at all, so two
workers, a retry or a worker killed in the middle never take a step twice. E-mail goes after
the commit, each one claimed by a conditional UPDATE first: at most once.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from readingcenter.accounts.moments import moment_text
from readingcenter.accounts.selectors import language_of
from readingcenter.audit.models import Outcome as AuditOutcome
from readingcenter.audit.services import audit_record
from readingcenter.errors import Conflict, DomainError, NotFound
from readingcenter.notifications.services import email_send
from readingcenter.sla.models import (
    Action,
    BusinessHours,
    CalendarKind,
    CaseEscalation,
    ClockEnd,
    ClosedDate,
    CoverageAlert,
    EscalationOutcome,
    EscalationTier,
    NotificationChannel,
    NotificationOutcome,
    SlaNotification,
    SlaPolicy,
    Trigger,
)
from readingcenter.studies import hints
from readingcenter.studies.models import Priority

log = logging.getLogger(__name__)

SYSTEM_SLA = "system:sla"
SLA_MANAGERS_GROUP = "sla.managers"


def sla_user_group(user_id: int) -> str:
    return f"sla.user.{user_id}"


# -- policies and calendars -----------------------------------------------------------------------


def _recompute_open_cases(hospital_id: int, priorities=None) -> int:
    from readingcenter.worklist.services import cases_recompute_deadlines

    return sum(
        cases_recompute_deadlines(hospital_id=hospital_id, priority=p)
        for p in (priorities or Priority.values)
    )


def sla_policy_set(
    *,
    hospital,
    priority: str,
    target_minutes: int,
    at_risk_percent: int = 75,
    clock_end: str | None = None,
    calendar: str | None = None,
    actor,
    request=None,
) -> SlaPolicy:
    """Create or change a hospital's promise for a priority; open cases' deadlines follow.

    ``clock_end`` and ``calendar`` None keep what the policy says (final, 24/7 for a new one).
    """
    priority = Priority.parse(priority)
    if target_minutes < 1:
        raise DomainError("invalid_target", _("The target must be at least one minute."),
                          field="target_minutes")  # fmt: skip
    if not 1 <= at_risk_percent <= 99:
        raise DomainError("invalid_at_risk_percent",
                          _("At risk must be between 1 and 99 percent."),
                          field="at_risk_percent")  # fmt: skip
    if clock_end is not None and clock_end not in ClockEnd.values:
        raise DomainError("invalid_clock_end",
                          _("The clock ends at the preliminary or the final."),
                          field="clock_end")  # fmt: skip
    if calendar is not None and calendar not in CalendarKind.values:
        raise DomainError("invalid_calendar", _("The calendar is 24x7 or business_hours."),
                          field="calendar")  # fmt: skip
    if (
        calendar == CalendarKind.BUSINESS_HOURS
        and not BusinessHours.objects.filter(hospital_id=hospital.id).exists()
    ):
        # A business-hours promise with no hours would never come due; refuse it here
        # rather than count 24/7 behind the manager's back.
        raise DomainError(
            "no_business_hours",
            _("%(hospital)s has no opening hours: set them before a business-hours promise.")
            % {"hospital": hospital.name},
            field="calendar",
        )

    with transaction.atomic():
        policy, created = SlaPolicy.objects.select_for_update().get_or_create(
            hospital=hospital,
            priority=priority,
            defaults={"target_minutes": target_minutes, "at_risk_percent": at_risk_percent},
        )
        old = (
            None
            if created
            else {
                "target_minutes": policy.target_minutes,
                "at_risk_percent": policy.at_risk_percent,
                "clock_end": policy.clock_end,
                "calendar": policy.calendar,
            }
        )
        policy.target_minutes, policy.at_risk_percent = target_minutes, at_risk_percent
        if clock_end is not None:
            policy.clock_end = clock_end
        if calendar is not None:
            policy.calendar = calendar
        policy.save()
        moved = _recompute_open_cases(hospital.id, [priority])
        audit_record(
            actor=actor,
            action="sla_policy.set",
            target=policy,
            hospital=hospital,
            request=request,
            detail={
                "priority": priority,
                "target_minutes": target_minutes,
                "at_risk_percent": at_risk_percent,
                "clock_end": policy.clock_end,
                "calendar": policy.calendar,
                "previous": old,
                "open_cases_moved": moved,
            },
        )
    return policy


def _parse_time(value, field: str) -> dt.time:
    if isinstance(value, dt.time):
        return value
    text = str(value).strip()
    if text in ("24:00", "24:00:00"):
        return dt.time(0, 0)
    try:
        return dt.time.fromisoformat(text)
    except ValueError as exc:
        raise DomainError(
            "invalid_time",
            _("%(value)s is not a time (HH:MM).") % {"value": repr(value)},
            field=field,
        ) from exc


def business_hours_set(*, hospital, hours, actor, request=None) -> list[BusinessHours]:
    """Replace a hospital's weekly opening hours: ``[(weekday 0-6, "08:00", "18:00"), ...]``
    in the hospital's time zone ("24:00" or "00:00" closes at midnight). Open cases of its
    business-hours promises get new deadlines in the same transaction."""
    rows = []
    for item in hours:
        weekday, opens, closes = item
        if not isinstance(weekday, int) or not 0 <= weekday <= 6:
            raise DomainError("invalid_weekday", _("Weekdays are 0 (Monday) to 6 (Sunday)."),
                              field="hours")  # fmt: skip
        opens, closes = _parse_time(opens, "hours"), _parse_time(closes, "hours")
        row = BusinessHours(hospital=hospital, weekday=weekday, opens_at=opens, closes_at=closes)
        try:
            row.clean()
        except ValidationError as exc:
            raise DomainError("invalid_hours", _("Each interval closes after it opens."),
                              field="hours") from exc  # fmt: skip
        rows.append(row)
    keys = [(r.weekday, r.opens_at) for r in rows]
    if len(set(keys)) != len(keys):
        raise DomainError(
            "duplicate_hours", _("Two intervals open at the same time."), field="hours"
        )
    with transaction.atomic():
        uses = SlaPolicy.objects.filter(hospital=hospital, calendar=CalendarKind.BUSINESS_HOURS)
        if not rows and uses.exists():
            raise Conflict(
                "business_hours_in_use",
                _("A business-hours promise counts on these hours; change it to 24/7 first."),
            )
        previous = [str(r) for r in BusinessHours.objects.filter(hospital=hospital)]
        BusinessHours.objects.filter(hospital=hospital).delete()
        BusinessHours.objects.bulk_create(rows)
        moved = _recompute_open_cases(hospital.id, list(uses.values_list("priority", flat=True)))
        audit_record(
            actor=actor,
            action="sla_calendar.hours_set",
            target=hospital,
            hospital=hospital,
            request=request,
            detail={"hours": [str(r) for r in rows], "previous": previous, "moved": moved},
        )
    return list(BusinessHours.objects.filter(hospital=hospital))


def closed_date_set(*, hospital, date: dt.date, reason: str = "", actor, request=None):
    """Close a hospital's business-hours clocks for a local date (a holiday)."""
    with transaction.atomic():
        row, created = ClosedDate.objects.update_or_create(
            hospital=hospital, date=date, defaults={"reason": reason.strip()[:200]}
        )
        moved = _recompute_open_cases(hospital.id, _business_hours_priorities(hospital.id))
        audit_record(
            actor=actor,
            action="sla_calendar.closed_date_set",
            target=row,
            hospital=hospital,
            request=request,
            detail={"date": date.isoformat(), "reason": row.reason, "new": created, "moved": moved},
        )
    return row


def closed_date_remove(*, hospital, date: dt.date, actor, request=None) -> bool:
    with transaction.atomic():
        deleted, _ = ClosedDate.objects.filter(hospital=hospital, date=date).delete()
        if not deleted:
            return False
        moved = _recompute_open_cases(hospital.id, _business_hours_priorities(hospital.id))
        audit_record(
            actor=actor,
            action="sla_calendar.closed_date_remove",
            target=hospital,
            hospital=hospital,
            request=request,
            detail={"date": date.isoformat(), "moved": moved},
        )
    return True


def _business_hours_priorities(hospital_id: int) -> list[str]:
    return list(
        SlaPolicy.objects.filter(
            hospital_id=hospital_id, calendar=CalendarKind.BUSINESS_HOURS
        ).values_list("priority", flat=True)
    )


# -- escalation tiers -----------------------------------------------------------------------------

TIER_FIELDS = ("hospital", "position", "name", "priority", "trigger", "percent_used", "action",
               "is_active")  # fmt: skip


def _require_manager(actor) -> None:
    if not (getattr(actor, "is_authenticated", False) and actor.is_active and actor.is_manager):
        raise DomainError("not_a_manager", _("Only managers configure escalation."), status=403)


def _validated_tier(tier: EscalationTier) -> EscalationTier:
    if tier.trigger not in Trigger.values:
        raise DomainError("invalid_trigger", _("Trigger: at_risk, breached or percent."),
                          field="trigger")  # fmt: skip
    if tier.action not in Action.values:
        raise DomainError("invalid_action",
                          _("Action: %(actions)s.") % {"actions": ", ".join(Action.values)},
                          field="action")  # fmt: skip
    if tier.priority and tier.priority not in Priority.values:
        raise DomainError("invalid_priority", _("Priority: stat, urgent, routine or empty."),
                          field="priority")  # fmt: skip
    if tier.trigger == Trigger.PERCENT:
        if not tier.percent_used or not 1 <= tier.percent_used <= 1000:
            raise DomainError(
                "invalid_percent_used",
                _("Say which share of the time triggers it (1 to 1000 percent)."),
                field="percent_used",
            )
    else:
        tier.percent_used = None
    return tier


def _tier_snapshot(tier: EscalationTier) -> dict:
    return {
        "hospital": tier.hospital_id,
        "position": tier.position,
        "name": tier.name,
        "priority": tier.priority,
        "trigger": tier.trigger,
        "percent_used": tier.percent_used,
        "action": tier.action,
        "is_active": tier.is_active,
    }


def escalation_tier_create(*, actor, request=None, **fields) -> EscalationTier:
    _require_manager(actor)
    unknown = set(fields) - set(TIER_FIELDS)
    if unknown:
        raise DomainError(
            "unknown_field", _("Unknown: %(fields)s.") % {"fields": ", ".join(sorted(unknown))}
        )
    tier = _validated_tier(EscalationTier(**fields))
    with transaction.atomic():
        tier.save()
        audit_record(actor=actor, action="escalation_tier.create", target=tier,
                     hospital=tier.hospital_id, request=request,
                     detail=_tier_snapshot(tier))  # fmt: skip
    return tier


def escalation_tier_update(*, tier_id: int, actor, request=None, **changes) -> EscalationTier:
    """Change a tier. Steps it already took stay on record as they were (the escalation rows
    copy the trigger and action); a tier already taken on a case is not taken again."""
    _require_manager(actor)
    unknown = set(changes) - set(TIER_FIELDS)
    if unknown:
        raise DomainError(
            "unknown_field", _("Unknown: %(fields)s.") % {"fields": ", ".join(sorted(unknown))}
        )
    with transaction.atomic():
        tier = EscalationTier.objects.select_for_update().filter(pk=tier_id).first()
        if tier is None:
            raise NotFound(_("No such escalation tier."))
        before = _tier_snapshot(tier)
        for name, value in changes.items():
            setattr(tier, name, value)
        _validated_tier(tier)
        tier.save()
        audit_record(actor=actor, action="escalation_tier.update", target=tier,
                     hospital=tier.hospital_id, request=request,
                     detail={"before": before, "after": _tier_snapshot(tier)})  # fmt: skip
    return tier


def escalation_tier_delete(*, tier_id: int, actor, request=None) -> bool:
    """Delete a tier nobody has been escalated by; one with steps on record is switched off
    instead (the record must keep pointing at it). Returns True when deleted."""
    _require_manager(actor)
    with transaction.atomic():
        tier = EscalationTier.objects.select_for_update().filter(pk=tier_id).first()
        if tier is None:
            raise NotFound(_("No such escalation tier."))
        snapshot = _tier_snapshot(tier)
        used = CaseEscalation.objects.filter(tier=tier).exists()
        if used:
            tier.is_active = False
            tier.save(update_fields=["is_active", "updated_at"])
        else:
            tier.delete()
        audit_record(actor=actor, action="escalation_tier.delete", target_type="sla.escalationtier",
                     target_id=tier_id, hospital=snapshot["hospital"], request=request,
                     detail={**snapshot, "kept_inactive": used})  # fmt: skip
    return not used


# -- the escalation pass --------------------------------------------------------------------------


def _site_url(path: str) -> str:
    return getattr(settings, "SITE_URL", "http://127.0.0.1:8000").rstrip("/") + path


def _local(value: dt.datetime, zone_name: str) -> str:
    from readingcenter.sla.selectors import hospital_zone

    return moment_text(value, hospital_zone(zone_name))


def _time_left(case, now: dt.datetime) -> tuple[int, str]:
    left = int((case.due_at - now).total_seconds() // 60)
    if left >= 0:
        return left, _("%(minutes)s min left") % {"minutes": left}
    return left, _("%(minutes)s min past the deadline") % {"minutes": -left}


def _describe(case, tier: EscalationTier, now: dt.datetime) -> str:
    """One line a reader understands at a glance, in the active language (the recipient's);
    no patient name (it also goes by e-mail)."""
    hospital = case.hospital
    left, when = _time_left(case, now)
    what = " ".join(
        str(part)
        for part in (case.get_priority_display(), case.modality, case.study.study_description)
        if part
    )
    values = {
        "hospital": hospital.name,
        "what": what,
        "accession": case.study.accession_number or "-",
        "when": when,
        "due": _local(case.due_at, hospital.time_zone),
        "step": tier.label,
    }
    if left < 0:
        return (
            _(
                "%(hospital)s: %(what)s (accession %(accession)s) is breached, %(when)s; due "
                "%(due)s. Step: %(step)s."
            )
            % values
        )
    return (
        _(
            "%(hospital)s: %(what)s (accession %(accession)s) is at risk, %(when)s; due "
            "%(due)s. Step: %(step)s."
        )
        % values
    )


def _insert_step(case, tier: EscalationTier, due_at: dt.datetime, now: dt.datetime) -> int | None:
    """Take the step for this (case, tier), or learn that someone already has.

    INSERT ... ON CONFLICT DO NOTHING against the unique (case, tier): of any number of
    transactions trying, exactly one gets a row back; the others wait for it to commit (or
    roll back, in which case one of them takes the step) and get nothing.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {CaseEscalation._meta.db_table}
                (case_id, tier_id, trigger, action, due_at, performed_at, outcome, detail,
                 recipients)
            VALUES (%s, %s, %s, %s, %s, %s, %s, '', '[]'::jsonb)
            ON CONFLICT (case_id, tier_id) DO NOTHING
            RETURNING id
            """,  # noqa: S608 - the table name is ours, every value a parameter
            [case.pk, tier.pk, tier.trigger, tier.action, due_at, now, EscalationOutcome.DONE],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _readers_for(case, *, widen: bool) -> tuple[list, str]:
    """Who a notify step tells, and why. The case's reader when it is claimed (he is the one
    who can still save it); else the eligible readers on duty (the auto-assignment's rule:
    privileged, reads the modality and the subspecialty, on duty), or, widened, every
    privileged reader of the modality whether on duty or not and whatever his subspecialty."""
    from readingcenter.worklist.selectors import case_readers

    if case.claimed_by_id is not None:
        return [case.claimed_by], f"claimed by {case.claimed_by.get_username()}: the reader is told"
    chosen = []
    for user, row in case_readers(case, loads=False):
        if (row["modality"] if widen else row["eligible"]) and user.is_active:
            chosen.append(user)
    if widen:
        return chosen, "every privileged reader of the modality, on duty or not"
    return chosen, "eligible readers on duty"


def _managers():
    from readingcenter.accounts.models import Role, User

    return list(
        User.objects.filter(
            Q(role__in=[Role.MANAGER, Role.ADMIN]) | Q(is_superuser=True), is_active=True
        ).order_by("username")
    )


def _notify(escalation_id: int, case, users, compose, now, *, email: bool) -> list:
    rows = _notification_rows(case, users, compose, now, email=email)
    for row in rows:
        row.escalation_id = escalation_id
    SlaNotification.objects.bulk_create(rows)
    return rows


def _notification_rows(case, users, compose, now, *, email: bool) -> list[SlaNotification]:
    """An in-app notification per user (seen at once), and an e-mail per user with an address
    (pending: sent after the commit); their cause is set by the caller. ``compose()`` writes
    the message in the active language: each user's is written in his (language_of)."""
    texts: dict[str, str] = {}

    def message_for(user) -> str:
        language = language_of(user)
        if language not in texts:
            with translation.override(language):
                texts[language] = str(compose())
        return texts[language]

    rows = [
        SlaNotification(
            case=case,
            recipient=user,
            channel=NotificationChannel.IN_APP,
            message=message_for(user),
            outcome=NotificationOutcome.SENT,
            sent_at=now,
        )
        for user in users
    ]
    if email:
        rows += [
            SlaNotification(
                case=case,
                recipient=user,
                channel=NotificationChannel.EMAIL,
                address=user.email,
                message=message_for(user),
                outcome=NotificationOutcome.PENDING,
            )
            for user in users
            if user.email
        ]
    return rows


def _act(case, tier: EscalationTier, escalation_id: int, now) -> dict:
    """Do the tier's action inside the step's transaction; returns the row's fields."""
    message = functools.partial(_describe, case, tier, now)
    if tier.action in (Action.NOTIFY_ON_DUTY, Action.WIDEN_POOL):
        users, why = _readers_for(case, widen=tier.action == Action.WIDEN_POOL)
        if not users:
            return {"outcome": EscalationOutcome.SKIPPED, "detail": f"Nobody to tell: no {why}."}
        _notify(escalation_id, case, users, message, now, email=False)
        return {
            "outcome": EscalationOutcome.DONE,
            "detail": f"Told {len(users)}: {why}.",
            "recipients": [u.get_username() for u in users],
        }
    if tier.action == Action.AUTO_ASSIGN:
        from readingcenter.worklist.models import CaseState
        from readingcenter.worklist.services import case_auto_assign

        if case.state != CaseState.UNREAD:
            reader = case.claimed_by.get_username() if case.claimed_by_id else "-"
            return {
                "outcome": EscalationOutcome.SKIPPED,
                "detail": f"Already with a reader ({reader}); nothing to assign.",
            }
        decision = case_auto_assign(case=case)  # we hold the case's row lock, as it requires
        if decision.chosen is None:
            return {"outcome": EscalationOutcome.SKIPPED, "detail": decision.rule}
        _notify(escalation_id, case, [decision.chosen], message, now, email=False)
        return {
            "outcome": EscalationOutcome.DONE,
            "detail": f"Assigned to {decision.chosen.get_username()}: {decision.rule}.",
            "recipients": [decision.chosen.get_username()],
            "assigned_to": decision.chosen,
        }
    managers = _managers()
    _notify(escalation_id, case, managers, message, now, email=True)
    mailed = [m.email for m in managers if m.email]
    detail = f"Alerted {len(managers)} manager(s) on the page; e-mail to {len(mailed)}."
    if not mailed:
        detail += " No manager has an e-mail address."
    return {
        "outcome": EscalationOutcome.DONE,
        "detail": detail,
        "recipients": [m.get_username() for m in managers],
    }


def _announce(case, escalation: CaseEscalation, user_ids: list[int]) -> None:
    """Hints after commit: each person told (his open pages refetch their notifications),
    the managers, and the worklist (the case's row changes colour or reader)."""
    from readingcenter.worklist.services import announce_case

    message = {
        "type": "sla.hint",
        "case_id": case.pk,
        "hospital_id": case.hospital_id,
        "escalation_id": escalation.pk,
        "action": escalation.action,
        "outcome": escalation.outcome,
    }
    targets = [(sla_user_group(uid), message) for uid in sorted(set(user_ids))]
    targets.append((SLA_MANAGERS_GROUP, message))
    hints.on_commit_send(("sla_escalation", escalation.pk), targets)
    announce_case(case, "escalated")


def case_escalation_perform(*, case_id: int, tier: EscalationTier, now=None):
    """Take one tier's step on one case if it is due and nobody has taken it yet.

    Returns the CaseEscalation created, or None (not due, clock stopped, case closed or
    busy, or the step already taken).
    """
    from readingcenter.sla.selectors import clock_stopped_at, sla_target, tier_due_at
    from readingcenter.worklist.models import OPEN_STATES, Case

    now = now or timezone.now()
    with transaction.atomic():
        # SKIP LOCKED: a claim or another worker holding the row: the next pass will see it.
        case = (
            Case.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("hospital", "study", "claimed_by")
            .filter(pk=case_id, state__in=OPEN_STATES)
            .first()
        )
        if case is None:
            return None
        target = sla_target(case.hospital_id, case.priority)
        if clock_stopped_at(case, target.clock_end) is not None:
            return None  # the promise is kept or missed: nothing left to save
        due_at = tier_due_at(tier, case, target)
        if due_at > now:
            return None
        escalation_id = _insert_step(case, tier, due_at, now)
        if escalation_id is None:
            return None
        fields = _act(case, tier, escalation_id, now)
        CaseEscalation.objects.filter(pk=escalation_id).update(**fields)
        escalation = CaseEscalation.objects.select_related("tier").get(pk=escalation_id)
        audit_record(
            actor=SYSTEM_SLA,
            action="case.escalate",
            target=case,
            hospital=case.hospital_id,
            patient_id=case.study.patient_id,
            outcome=AuditOutcome.SUCCESS,
            detail={
                "escalation_id": escalation_id,
                "tier_id": tier.pk,
                "tier": tier.label,
                "trigger": tier.trigger,
                "action": tier.action,
                "outcome": escalation.outcome,
                "due_at": due_at.isoformat(),
                "recipients": escalation.recipients,
                "detail": escalation.detail,
            },
        )
        told = list(
            SlaNotification.objects.filter(escalation_id=escalation_id, recipient__isnull=False)
            .values_list("recipient_id", flat=True)
            .distinct()
        )
        _announce(case, escalation, told)
    return escalation


def sla_escalate(*, now=None, batch: int = 500) -> list[tuple[int, int]]:
    """The periodic pass: every (case, tier) due and not yet taken gets its step, in tier
    order; then pending e-mails go. Returns the (case id, tier id) steps this run took.

    Nothing is remembered between runs: a pass missed while no worker ran finds the same
    rows on the next one, and a step taken by a run that then died is on record. Cases are
    read in batches in (due_at, id) order from where the last batch ended, so a long queue
    is walked to its end instead of re-reading its first rows.
    """
    from readingcenter.sla.selectors import open_cases_for_escalation

    now = now or timezone.now()
    tiers = list(EscalationTier.objects.filter(is_active=True))
    taken: list[tuple[int, int]] = []
    if tiers:
        cases = open_cases_for_escalation(
            now=now, any_percent_tier=any(t.trigger == Trigger.PERCENT for t in tiers)
        )
        targets: dict[int, dict] = {}
        after = None
        while True:
            page = cases
            if after is not None:
                page = page.filter(Q(due_at__gt=after[0]) | Q(due_at=after[0], id__gt=after[1]))
            rows = list(page[:batch])
            if not rows:
                break
            taken += _escalate_batch(rows, tiers, targets, now)
            after = (rows[-1].due_at, rows[-1].pk)
    sla_notifications_send()
    if taken:
        log.info("took %d escalation steps", len(taken))
    return taken


def _escalate_batch(cases, tiers, targets: dict, now) -> list[tuple[int, int]]:
    from readingcenter.sla.selectors import clock_stopped_at, sla_targets, tier_due_at, tiers_for

    done = set(
        CaseEscalation.objects.filter(case_id__in=[c.pk for c in cases]).values_list(
            "case_id", "tier_id"
        )
    )
    taken = []
    for case in cases:
        if case.hospital_id not in targets:
            targets[case.hospital_id] = sla_targets(case.hospital_id)
        target = targets[case.hospital_id][case.priority]
        if clock_stopped_at(case, target.clock_end) is not None:
            continue
        for tier in tiers_for(case.hospital_id, case.priority, tiers=tiers):
            if (case.pk, tier.pk) in done or tier_due_at(tier, case, target) > now:
                continue
            try:
                step = case_escalation_perform(case_id=case.pk, tier=tier, now=now)
            except Exception:  # one broken case must not stop everyone else's escalation
                log.exception("escalating case %s (tier %s) failed", case.pk, tier.pk)
                continue
            if step is not None:
                taken.append((case.pk, tier.pk))
    return taken


# -- coverage: STAT cases nobody on duty may read --------------------------------------------------


def _coverage_message(case, now) -> str:
    """What the managers read, in the active language (no patient name: it also goes by
    e-mail)."""
    hospital = case.hospital
    what = " ".join(p for p in (case.modality, case.study.study_description) if p)
    reads = ", ".join(p for p in (", ".join(case.modalities), case.subspecialty) if p)
    _left, when = _time_left(case, now)
    return _(
        "%(hospital)s: STAT %(what)s (accession %(accession)s) has no radiologist on duty who "
        "may read it (privileged at %(code)s, reading %(reads)s); it waits for someone to be "
        "put on duty or credentialed. Due %(due)s, %(when)s."
    ) % {
        "hospital": hospital.name,
        "what": what,
        "accession": case.study.accession_number or "-",
        "code": hospital.code,
        "reads": reads,
        "due": _local(case.due_at, hospital.time_zone),
        "when": when,
    }


def _insert_coverage_alert(case, message: str, now) -> int | None:
    """The alert's row, or None when another worker already raised it (the unique case)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {CoverageAlert._meta.db_table} (case_id, raised_at, message, recipients)
            VALUES (%s, %s, %s, '[]'::jsonb)
            ON CONFLICT (case_id) DO NOTHING
            RETURNING id
            """,  # noqa: S608 - the table name is ours, every value a parameter
            [case.pk, now, message],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def coverage_alert_raise(*, case_id: int, now=None) -> CoverageAlert | None:
    """Tell the managers, once, that this STAT case has nobody on duty to read it: on their
    pages (an in-app notification and the dashboard) and by e-mail (sent after the commit,
    by ``sla_notifications_send``). None when already raised or the case is no longer open."""
    from readingcenter.worklist.models import Case, CaseState

    now = now or timezone.now()
    with transaction.atomic():
        case = (
            Case.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("hospital", "study")
            .filter(pk=case_id, state=CaseState.UNREAD)
            .first()
        )
        if case is None:
            return None
        message = _coverage_message(case, now)
        alert_id = _insert_coverage_alert(case, message, now)
        if alert_id is None:
            return None
        managers = _managers()
        compose = functools.partial(_coverage_message, case, now)
        rows = _notification_rows(case, managers, compose, now, email=True)
        for row in rows:
            row.coverage_alert_id = alert_id
        SlaNotification.objects.bulk_create(rows)
        recipients = [m.get_username() for m in managers]
        CoverageAlert.objects.filter(pk=alert_id).update(recipients=recipients)
        alert = CoverageAlert.objects.get(pk=alert_id)
        audit_record(
            actor=SYSTEM_SLA,
            action="case.coverage_alert",
            target=case,
            hospital=case.hospital_id,
            patient_id=case.study.patient_id,
            detail={"alert_id": alert_id, "recipients": recipients, "message": message},
        )
        message_hint = {"type": "sla.hint", "case_id": case.pk, "hospital_id": case.hospital_id,
                        "coverage_alert_id": alert_id}  # fmt: skip
        hints.on_commit_send(
            ("coverage_alert", alert_id),
            [(sla_user_group(m.pk), message_hint) for m in managers]
            + [(SLA_MANAGERS_GROUP, message_hint)],
        )
    return alert


def sla_alert_uncovered(*, now=None) -> list[int]:
    """The periodic pass's second half: each open STAT case nobody on duty may read, not yet
    alerted, alerts the managers; then pending e-mails go. Returns the cases alerted."""
    from readingcenter.worklist.selectors import uncovered_cases

    now = now or timezone.now()
    waiting = (
        uncovered_cases(now=now)
        .filter(priority=Priority.STAT, coverage_alert__isnull=True)
        .values_list("pk", flat=True)
    )
    alerted = []
    for case_id in list(waiting):
        try:
            if coverage_alert_raise(case_id=case_id, now=now) is not None:
                alerted.append(case_id)
        except Exception:  # one broken case must not keep the managers from hearing of others
            log.exception("coverage alert for case %s failed", case_id)
    sla_notifications_send()
    if alerted:
        log.info("alerted the managers of %d uncovered STAT cases", len(alerted))
    return alerted


# -- e-mail ---------------------------------------------------------------------------------------


def _email_text(notification: SlaNotification) -> tuple[str, str]:
    """Subject and body in the active language (the message was written in the recipient's)."""
    case = notification.case
    values = {"hospital": case.hospital.name, "case": case.pk}
    subject = _("[SLA] %(hospital)s: case %(case)s needs attention") % values
    if notification.coverage_alert_id:
        subject = _("[Coverage] %(hospital)s: STAT case %(case)s has no reader on duty") % values
    body = (
        f"{notification.message}\n\n"
        + _("Open the case: %(url)s") % {"url": _site_url(reverse("case-detail", args=[case.pk]))}
        + "\n"
        + _("You receive this because you are a manager of the reading center.")
        + "\n"
    )
    return subject, body


def _send_email(notification: SlaNotification) -> tuple[str, str]:
    recipient = notification.recipient
    with translation.override(language_of(recipient)):
        subject, body = _email_text(notification)
    sent = email_send(
        to=notification.address,
        subject=subject,
        body=body,
        from_email=getattr(settings, "SLA_FROM_EMAIL", None),
    )
    if not sent.sent:
        log.warning(
            "SLA e-mail %s to %s failed: %s", notification.pk, notification.address, sent.error
        )
        return NotificationOutcome.FAILED, sent.error
    return NotificationOutcome.SENT, ""


def sla_notifications_send(*, limit: int = 200) -> list[int]:
    """Send pending e-mails. Each is claimed first by a conditional UPDATE (pending ->
    sending, committed on its own), so of two workers only one sends it, and one whose
    worker died while sending stays 'sending' instead of going out twice."""
    sent = []
    pending = SlaNotification.objects.filter(
        outcome=NotificationOutcome.PENDING, channel=NotificationChannel.EMAIL
    ).values_list("id", flat=True)[:limit]
    for pk in list(pending):
        if not SlaNotification.objects.filter(pk=pk, outcome=NotificationOutcome.PENDING).update(
            outcome=NotificationOutcome.SENDING
        ):
            continue  # another worker has it
        notification = SlaNotification.objects.select_related(
            "case__hospital", "case__study", "recipient__hospital"
        ).get(pk=pk)
        outcome, reason = _send_email(notification)
        with transaction.atomic():
            SlaNotification.objects.filter(pk=pk).update(
                outcome=outcome,
                sent_at=timezone.now() if outcome == NotificationOutcome.SENT else None,
                detail=reason,
            )
            audit_record(
                actor=SYSTEM_SLA,
                action="case.escalation_email",
                target=notification.case,
                hospital=notification.case.hospital_id,
                outcome=AuditOutcome.SUCCESS
                if outcome == NotificationOutcome.SENT
                else AuditOutcome.ERROR,
                detail={"notification_id": pk, "to": notification.address, "error": reason},
            )
        sent.append(pk)
    return sent


# -- the reader's side ----------------------------------------------------------------------------


def sla_notifications_mark_read(*, user, ids: list[int] | None = None) -> int:
    """Mark the user's own in-app notifications read (all of them when ids is None)."""
    if not (getattr(user, "is_authenticated", False) and user.is_active):
        raise NotFound(_("No such notification."))
    qs = SlaNotification.objects.filter(
        recipient=user, channel=NotificationChannel.IN_APP, read_at__isnull=True
    )
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    return qs.update(read_at=timezone.now())
