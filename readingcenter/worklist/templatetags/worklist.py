"""Showing a case's clock the way a radiologist glances at it."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext as _

from readingcenter import hooks

register = template.Library()


def _span(seconds: int) -> str:
    minutes = abs(seconds) // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d}"
    return f"{hours // 24} d {hours % 24} h"


@register.simple_tag
def sla_clock(case, now=None) -> dict:
    """{"status": ok|at_risk|breached|closed, "text": "23 min left" / "12 min over"}."""
    status = case.sla_status(now)
    if status != "closed" and case.preliminary_at is not None:
        # A promise "to preliminary" stopped its clock at the preliminary: the case reads on
        # to its final without turning red. Only such cases pay for the policy lookup.
        # Hook point "worklist.case_clock": first(case=, now=) answers the case's clock against
        # its promise (sla), whose ``status`` is met or missed once the measured report is in.
        clock = hooks.first("worklist.case_clock", case=case, now=now)
        if clock is not None and clock.status in ("met", "missed"):
            if clock.status == "met":
                return {"status": "ok", "text": _("preliminary in time")}
            return {"status": "breached", "text": _("preliminary late")}
    if status == "closed":
        return {"status": status, "text": "—"}
    seconds = case.seconds_left(now)
    if seconds >= 0:
        text = _("%(time)s left") % {"time": _span(seconds)}
    else:
        text = _("%(time)s over") % {"time": _span(seconds)}
    return {"status": status, "text": text}
