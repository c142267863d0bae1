"""What SLA answers on the hook points of the layers below it (readingcenter.hooks).

Imported by SlaConfig.ready().
"""

from __future__ import annotations

from readingcenter import hooks
from readingcenter.sla.selectors import case_clock, escalations_for_case, sla_target


@hooks.subscribe("worklist.case_deadline")
def case_deadline(*, hospital_id: int, priority: str):
    # The hospital's promise for the priority (the default when it has none): the worklist
    # calls its deadline() and at_risk_from() for due_at and at_risk_at.
    return sla_target(hospital_id, priority)


@hooks.subscribe("worklist.case_clock")
def worklist_case_clock(*, case, now=None):
    return case_clock(case, now=now)


@hooks.subscribe("worklist.case_page")
def case_page(*, case, user, request) -> dict:
    # The steps escalation took on the case, with who was told (the case page's record).
    return {"escalations": escalations_for_case(case=case)}
