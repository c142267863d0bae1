"""The deadlines a hospital's promises put on a case."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet

from readingcenter.sla.models import SlaPolicy
from readingcenter.studies.models import Priority


@dataclass(frozen=True)
class Target:
    priority: str
    target_minutes: int
    at_risk_percent: int
    is_default: bool = False

    def deadline(self, start: datetime) -> datetime:
        return start + timedelta(minutes=self.target_minutes)

    def at_risk_from(self, start: datetime) -> datetime:
        return start + timedelta(minutes=self.target_minutes * self.at_risk_percent / 100)


def default_target(priority: str) -> Target:
    minutes = settings.SLA_DEFAULT_MINUTES[Priority(priority).value]
    return Target(priority, minutes, settings.SLA_DEFAULT_AT_RISK_PERCENT, is_default=True)


def sla_target(hospital_id: int, priority: str) -> Target:
    policy = SlaPolicy.objects.filter(hospital_id=hospital_id, priority=priority).first()
    if policy is None:
        return default_target(priority)
    return Target(priority, policy.target_minutes, policy.at_risk_percent)


def sla_targets(hospital_id: int) -> dict[str, Target]:
    """Every priority's target for the hospital, defaults filled in."""
    targets = {p.value: default_target(p) for p in Priority}
    for policy in SlaPolicy.objects.filter(hospital_id=hospital_id):
        targets[policy.priority] = Target(
            policy.priority, policy.target_minutes, policy.at_risk_percent
        )
    return targets


def sla_policy_list(*, user) -> QuerySet[SlaPolicy]:
    qs = SlaPolicy.objects.select_related("hospital")
    if user.is_manager:
        return qs
    if user.is_hospital_user:
        return qs.filter(hospital_id=user.hospital_id)
    return qs.none()
