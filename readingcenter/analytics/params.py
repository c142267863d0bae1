"""Reading a period and filters from a query string (pages and API share it)."""

from __future__ import annotations

import datetime as dt

from django.utils.translation import gettext as _

from readingcenter.analytics.selectors import Filters, Period
from readingcenter.errors import DomainError

DEFAULT_DAYS = 30


def user_zone(user) -> str:
    return getattr(user, "time_zone", "") or "UTC"


def _date(query, name: str) -> dt.date | None:
    text = (query.get(name) or "").strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise DomainError(
            "invalid", _("%(name)s is a date, YYYY-MM-DD.") % {"name": name}, field=name
        ) from None


def period_from_query(query, user) -> Period:
    """``month=YYYY-MM``, or ``from``/``to`` dates (inclusive), in the user's time zone;
    neither: the last 30 days up to today."""
    zone = user_zone(user)
    if query.get("month"):
        return Period.parse_month(query["month"], zone)
    first, last = _date(query, "from"), _date(query, "to")
    if first is None and last is None:
        return Period.last_days(DEFAULT_DAYS, zone=zone)
    last = last or Period.last_days(1, zone=zone).start.date()
    first = first or last - dt.timedelta(days=DEFAULT_DAYS - 1)
    if (last - first).days > 366 * 3:
        raise DomainError("period_too_long", _("A period is at most three years."), field="from")
    return Period.days(first, last, zone)


def filters_from_query(query) -> Filters:
    return Filters.from_query(query)
