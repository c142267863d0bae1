"""One way to write a moment for people: "2026-12-05 20:50 UTC+8", in the reader's own zone.

Stored times are UTC; a page shows them in the user's zone (the time-zone middleware activates
it). Zone abbreviations are ambiguous ("CST" is China and US Central), so the offset is written
instead, which no reader can misread. Every template writes moments through the ``when``
filter (a builtin: no ``{% load %}``), and messages and e-mails through ``moment_text``.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone


def offset_text(offset: dt.timedelta | None) -> str:
    """``UTC``, ``UTC+9``, ``UTC-5``, ``UTC+5:30``."""
    minutes = int((offset or dt.timedelta()).total_seconds() // 60)
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def moment_text(value: dt.datetime | None, zone=None) -> str:
    """The moment in ``zone`` (default: the active zone, the user's on a page), with its
    offset; "" for None."""
    if not isinstance(value, dt.datetime):
        return ""
    if timezone.is_naive(value):
        value = timezone.make_aware(value, dt.UTC)
    local = timezone.localtime(value, zone)
    return f"{local:%Y-%m-%d %H:%M} {offset_text(local.utcoffset())}"
