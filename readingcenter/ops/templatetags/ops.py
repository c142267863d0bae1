"""How long, in the words a manager glances at: "12 min", "3 h 05", "2 d 4 h"."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def span(seconds) -> str:
    try:
        minutes = abs(int(seconds)) // 60
    except (TypeError, ValueError):
        return "—"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d}"
    return f"{hours // 24} d {hours % 24} h"


@register.filter
def span_minutes(minutes) -> str:
    """A promise in minutes, as ``span`` writes seconds: "30 min", "2 h 00", "1 d 0 h"."""
    try:
        return span(int(minutes) * 60)
    except (TypeError, ValueError):
        return "—"
