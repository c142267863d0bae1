"""Writes to SLA policies. A changed promise moves the deadlines of the cases still open."""

from __future__ import annotations

from django.db import transaction

from readingcenter.audit.services import audit_record
from readingcenter.errors import DomainError
from readingcenter.sla.models import SlaPolicy
from readingcenter.studies.models import Priority


def sla_policy_set(
    *,
    hospital,
    priority: str,
    target_minutes: int,
    at_risk_percent: int = 75,
    actor,
    request=None,
) -> SlaPolicy:
    priority = Priority.parse(priority)
    if target_minutes < 1:
        raise DomainError("invalid_target", "The target must be at least one minute.",
                          field="target_minutes")  # fmt: skip
    if not 1 <= at_risk_percent <= 99:
        raise DomainError("invalid_at_risk_percent", "At risk must be between 1 and 99 percent.",
                          field="at_risk_percent")  # fmt: skip
    from readingcenter.worklist.services import cases_recompute_deadlines

    with transaction.atomic():
        policy, created = SlaPolicy.objects.select_for_update().get_or_create(
            hospital=hospital,
            priority=priority,
            defaults={"target_minutes": target_minutes, "at_risk_percent": at_risk_percent},
        )
        old = None if created else (policy.target_minutes, policy.at_risk_percent)
        policy.target_minutes, policy.at_risk_percent = target_minutes, at_risk_percent
        policy.save()
        moved = cases_recompute_deadlines(hospital_id=hospital.id, priority=priority)
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
                "previous": old,
                "open_cases_moved": moved,
            },
        )
    return policy
