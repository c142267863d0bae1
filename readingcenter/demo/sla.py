"""The demo's SLA clocks and escalation (fixtures/demo.json, key "sla"): idempotent.

Reads ``sla.business_hours`` ({hospital code: {"hours": [{weekday, opens_at, closes_at}],
"closed": [{"date", "reason"}]}}), ``sla.policy_clocks`` ([{hospital, priority, clock_end?,
calendar?}], applied to the policies load_demo made) and ``sla.escalation_tiers``
([{hospital (code or null), priority?, position, name, trigger, percent_used?, action}]).
Run it after load_demo has made the hospitals and their policies; anything missing is
skipped, not an error.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from django.conf import settings
from django.db import transaction

from readingcenter.hospitals.models import Hospital
from readingcenter.sla import services
from readingcenter.sla.models import BusinessHours, ClosedDate, EscalationTier, SlaPolicy

ACTOR = "system:load_demo"


def _demo_data(path: Path | None = None) -> dict:
    path = path or Path(settings.BASE_DIR) / "fixtures" / "demo.json"
    return json.loads(path.read_text(encoding="utf-8")).get("sla", {})


def _hours(item) -> tuple:
    if isinstance(item, dict):
        return item["weekday"], item["opens_at"], item["closes_at"]
    return tuple(item)


def load_demo_sla(path: Path | None = None) -> int:
    """Create or change what is missing; returns how many rows it created or changed."""
    data = _demo_data(path)
    hospitals = {h.code: h for h in Hospital.objects.all()}
    with transaction.atomic():
        return (
            _load_calendars(data.get("business_hours", {}), hospitals)
            + _load_policy_clocks(data.get("policy_clocks", []), hospitals)
            + _load_escalation_tiers(data.get("escalation_tiers", []), hospitals)
        )


def _load_calendars(calendars: dict, hospitals: dict[str, Hospital]) -> int:
    """Business hours for a hospital that has none, and its closed dates not yet there."""
    changed = 0
    for code, calendar in calendars.items():
        hospital = hospitals.get(code)
        if hospital is None:
            continue
        if not BusinessHours.objects.filter(hospital=hospital).exists():
            rows = services.business_hours_set(
                hospital=hospital, hours=[_hours(h) for h in calendar["hours"]], actor=ACTOR
            )
            changed += len(rows)
        for item in calendar.get("closed", []):
            day = dt.date.fromisoformat(item["date"])
            if not ClosedDate.objects.filter(hospital=hospital, date=day).exists():
                services.closed_date_set(
                    hospital=hospital, date=day, reason=item.get("reason", ""), actor=ACTOR
                )
                changed += 1
    return changed


def _load_policy_clocks(items: list, hospitals: dict[str, Hospital]) -> int:
    """When a policy's clock stops and which calendar it runs on, for policies load_demo made."""
    changed = 0
    for item in items:
        hospital = hospitals.get(item["hospital"])
        policy = SlaPolicy.objects.filter(hospital=hospital, priority=item["priority"]).first()
        if policy is None:
            continue
        clock_end = item.get("clock_end", policy.clock_end)
        calendar = item.get("calendar", policy.calendar)
        if (clock_end, calendar) != (policy.clock_end, policy.calendar):
            services.sla_policy_set(
                hospital=hospital, priority=policy.priority,
                target_minutes=policy.target_minutes, at_risk_percent=policy.at_risk_percent,
                clock_end=clock_end, calendar=calendar, actor=ACTOR,
            )  # fmt: skip
            changed += 1
    return changed


def _load_escalation_tiers(items: list, hospitals: dict[str, Hospital]) -> int:
    """Escalation tiers, global (no hospital) or of a hospital that is there."""
    changed = 0
    for item in items:
        code = item.get("hospital")
        hospital = hospitals.get(code) if code else None
        if code and hospital is None:
            continue
        _, made = EscalationTier.objects.get_or_create(
            hospital=hospital,
            priority=item.get("priority", ""),
            position=item["position"],
            trigger=item["trigger"],
            action=item["action"],
            defaults={"name": item.get("name", ""), "percent_used": item.get("percent_used")},
        )
        changed += made
    return changed
