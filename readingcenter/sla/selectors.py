"""Reads about promises: the deadlines they put on a case, its clock, its escalations."""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from dataclasses import dataclass

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from readingcenter.errors import NotFound
from readingcenter.sla.clock import (
    BusinessCalendar,
    CalendarHasNoOpenTime,
    counted_between,
    deadline_after,
)
from readingcenter.sla.models import (
    BusinessHours,
    CalendarKind,
    CaseEscalation,
    ClockEnd,
    ClosedDate,
    EscalationTier,
    SlaNotification,
    SlaPolicy,
    Trigger,
)
from readingcenter.studies.models import Priority

log = logging.getLogger(__name__)


def hospital_zone(name: str | None) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        log.warning("unknown time zone %r: counting in UTC", name)
        return zoneinfo.ZoneInfo("UTC")


def hospital_calendar(hospital_id: int) -> BusinessCalendar:
    """The hospital's opening hours and closed dates, in its own time zone."""
    from readingcenter.hospitals.models import Hospital

    zone_name = Hospital.objects.filter(pk=hospital_id).values_list("time_zone", flat=True).first()
    hours = BusinessHours.objects.filter(hospital_id=hospital_id).values_list(
        "weekday", "opens_at", "closes_at"
    )
    closed = ClosedDate.objects.filter(hospital_id=hospital_id).values_list("date", flat=True)
    return BusinessCalendar.build(hospital_zone(zone_name), list(hours), list(closed))


@dataclass(frozen=True)
class Target:
    """A promise as the worklist applies it: how much counted time, counted how, until what."""

    priority: str
    target_minutes: int
    at_risk_percent: int
    is_default: bool = False
    clock_end: str = ClockEnd.FINAL
    # None: 24/7. A business-hours policy whose hospital has no opening hours also counts
    # 24/7 (and says so in the log): a promise must always produce a deadline.
    calendar: BusinessCalendar | None = None

    def after(self, start: dt.datetime, minutes: float) -> dt.datetime:
        try:
            return deadline_after(start, minutes, self.calendar)
        except CalendarHasNoOpenTime:
            log.warning("business-hours calendar never opens: counting 24/7")
            return deadline_after(start, minutes, None)

    def deadline(self, start: dt.datetime) -> dt.datetime:
        return self.after(start, self.target_minutes)

    def at_risk_from(self, start: dt.datetime) -> dt.datetime:
        return self.after(start, self.target_minutes * self.at_risk_percent / 100)

    def percent_used_at(self, start: dt.datetime, percent: float) -> dt.datetime:
        """When ``percent`` of the time is used (over 100: that far past the deadline)."""
        return self.after(start, self.target_minutes * percent / 100)

    def used(self, start: dt.datetime, now: dt.datetime) -> dt.timedelta:
        return counted_between(start, now, self.calendar)


def default_target(priority: str) -> Target:
    minutes = settings.SLA_DEFAULT_MINUTES[Priority(priority).value]
    return Target(priority, minutes, settings.SLA_DEFAULT_AT_RISK_PERCENT, is_default=True)


def _target(policy: SlaPolicy, calendars: dict[int, BusinessCalendar]) -> Target:
    calendar = None
    if policy.calendar == CalendarKind.BUSINESS_HOURS:
        if policy.hospital_id not in calendars:
            calendars[policy.hospital_id] = hospital_calendar(policy.hospital_id)
        calendar = calendars[policy.hospital_id]
        if not calendar.ever_open:
            log.warning("hospital %s has a business-hours SLA but no opening hours: counting 24/7",
                        policy.hospital_id)  # fmt: skip
            calendar = None
    return Target(
        policy.priority,
        policy.target_minutes,
        policy.at_risk_percent,
        clock_end=policy.clock_end,
        calendar=calendar,
    )


def sla_target(hospital_id: int, priority: str) -> Target:
    """The promise for a hospital's cases of one priority (the default when it has none).

    The worklist's ``_set_deadline`` and ``cases_recompute_deadlines`` call ``deadline`` and
    ``at_risk_from`` on it: the business-hours walk happens there.
    """
    policy = SlaPolicy.objects.filter(hospital_id=hospital_id, priority=priority).first()
    if policy is None:
        return default_target(priority)
    return _target(policy, {})


def sla_targets(hospital_id: int) -> dict[str, Target]:
    """Every priority's target for the hospital, defaults filled in."""
    targets = {p.value: default_target(p) for p in Priority}
    calendars: dict[int, BusinessCalendar] = {}
    for policy in SlaPolicy.objects.filter(hospital_id=hospital_id):
        targets[policy.priority] = _target(policy, calendars)
    return targets


def sla_policy_list(*, user) -> QuerySet[SlaPolicy]:
    qs = SlaPolicy.objects.select_related("hospital")
    if user.is_manager:
        return qs
    if user.is_hospital_user:
        return qs.filter(hospital_id=user.hospital_id)
    return qs.none()


# -- a case's clock -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseClock:
    """Where a case stands against its promise. ``status``: ok, at_risk, breached, met
    (the measured report came in time), missed (it came late), closed (removed)."""

    status: str
    clock_end: str
    due_at: dt.datetime
    at_risk_at: dt.datetime
    stopped_at: dt.datetime | None

    @property
    def is_running(self) -> bool:
        return self.stopped_at is None and self.status in ("ok", "at_risk", "breached")


def clock_stopped_at(case, clock_end: str) -> dt.datetime | None:
    """When the measured report arrived. A final stops a to-preliminary clock too (a final
    is at least a preliminary); only the final stops a to-final one."""
    if clock_end == ClockEnd.PRELIMINARY:
        stops = [t for t in (case.preliminary_at, case.signed_at) if t is not None]
        return min(stops) if stops else None
    return case.signed_at


def case_clock(case, *, target: Target | None = None, now: dt.datetime | None = None) -> CaseClock:
    """The case's clock, stopped when the measured report is signed. Uses the deadlines
    stored on the case (what the worklist shows); the policy only says what stops it."""
    from readingcenter.worklist.models import CaseState

    target = target or sla_target(case.hospital_id, case.priority)
    now = now or timezone.now()
    stopped = clock_stopped_at(case, target.clock_end)
    if stopped is not None:
        status = "met" if stopped <= case.due_at else "missed"
    elif case.state == CaseState.REMOVED:
        status = "closed"
    elif now >= case.due_at:
        status = "breached"
    elif now >= case.at_risk_at:
        status = "at_risk"
    else:
        status = "ok"
    return CaseClock(status, target.clock_end, case.due_at, case.at_risk_at, stopped)


# -- escalation tiers -----------------------------------------------------------------------------


def tiers_for(hospital_id: int, priority: str, *, tiers: list[EscalationTier] | None = None):
    """The active tiers that apply to a case, in position order: the hospital's own tiers for
    the case's priority (or for every priority) when it has any, else the global ones."""
    if tiers is None:
        tiers = list(EscalationTier.objects.filter(is_active=True))
    fits = [t for t in tiers if t.priority in ("", priority)]
    chosen = [t for t in fits if t.hospital_id == hospital_id] or [
        t for t in fits if t.hospital_id is None
    ]
    return sorted(chosen, key=lambda t: (t.position, t.id))


def tier_due_at(tier: EscalationTier, case, target: Target) -> dt.datetime:
    """When a tier falls due for a case: the stored at-risk and due instants (what the
    worklist shows), or the instant the given share of the counted time is used."""
    if tier.trigger == Trigger.AT_RISK:
        return case.at_risk_at
    if tier.trigger == Trigger.BREACHED:
        return case.due_at
    return target.percent_used_at(case.arrived_at, tier.percent_used or 100)


def escalation_tier_list(*, user) -> QuerySet[EscalationTier]:
    if not (getattr(user, "is_authenticated", False) and user.is_active and user.is_manager):
        return EscalationTier.objects.none()
    return EscalationTier.objects.select_related("hospital").order_by(
        "hospital__name", "position", "id"
    )


def escalation_tier_get(*, user, id: int) -> EscalationTier:
    tier = escalation_tier_list(user=user).filter(pk=id).first()
    if tier is None:
        raise NotFound(_("No such escalation tier."))
    return tier


def escalations_for_case(*, case) -> list[CaseEscalation]:
    """The steps taken on a case, oldest first, with who was told (the case page's record).

    The caller has already decided the user may see the case (the case page does)."""
    return list(
        CaseEscalation.objects.filter(case_id=case.pk)
        .select_related("tier", "tier__hospital", "assigned_to")
        .prefetch_related("notifications__recipient")
        .order_by("performed_at", "id")
    )


def escalation_list(*, user, case_id: int | None = None) -> QuerySet[CaseEscalation]:
    """Escalation steps the user may see: managers all; radiologists those on cases of the
    hospitals where they hold a privilege; hospital users none (it is the center's work)."""
    from readingcenter.accounts.selectors import privileged_hospitals_q

    qs = CaseEscalation.objects.select_related("tier", "case", "assigned_to").order_by(
        "-performed_at", "-id"
    )
    if case_id is not None:
        qs = qs.filter(case_id=case_id)
    if not (getattr(user, "is_authenticated", False) and user.is_active):
        return qs.none()
    if user.is_manager:
        return qs
    if user.is_radiologist:
        return qs.filter(privileged_hospitals_q(user, field="case__hospital_id"))
    return qs.none()


def notifications_for_user(*, user, unread_only: bool = False) -> QuerySet[SlaNotification]:
    """The in-app notifications addressed to this user (nobody else's)."""
    if not (getattr(user, "is_authenticated", False) and user.is_active):
        return SlaNotification.objects.none()
    qs = SlaNotification.objects.filter(recipient=user, channel="in_app").select_related(
        "case", "case__hospital", "escalation__tier"
    )
    if unread_only:
        qs = qs.filter(read_at__isnull=True)
    return qs.order_by("-created_at", "-id")


def calendar_for_hospital(*, user, hospital_id: int) -> dict:
    """Opening hours and closed dates of a hospital: managers any, hospital users their own."""
    if not (getattr(user, "is_authenticated", False) and user.is_active):
        raise NotFound(_("No such hospital."))
    if not user.is_manager and not (user.is_hospital_user and user.hospital_id == hospital_id):
        raise NotFound(_("No such hospital."))
    return {
        "hours": list(BusinessHours.objects.filter(hospital_id=hospital_id)),
        "closed": list(ClosedDate.objects.filter(hospital_id=hospital_id)),
    }


def open_cases_for_escalation(*, now: dt.datetime, any_percent_tier: bool) -> QuerySet:
    """Open cases (the partial index on open cases serves it) that may have a tier due.

    Without "share of the time" tiers only cases past their at-risk instant can (at_risk_at
    is never after due_at); with them, any open case whose clock has started.
    """
    from readingcenter.worklist.models import OPEN_STATES, Case

    qs = Case.objects.filter(state__in=OPEN_STATES, arrived_at__lte=now)
    if not any_percent_tier:
        qs = qs.filter(at_risk_at__lte=now)
    return qs.order_by("due_at", "id")
