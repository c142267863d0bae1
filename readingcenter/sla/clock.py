"""The deadline arithmetic: pure functions, no Django, no database, no clock of their own.

A promise is a number of minutes of *counted* time from a start instant. Under a 24/7
calendar every minute counts; under a business-hours calendar only the minutes inside the
hospital's opening hours, in the hospital's own time zone, outside its closed dates.

Every computation is done on aware instants in UTC. Local wall-clock values are used only
to say *which* intervals are open (a date and a time of day), and each interval's ends are
converted to instants through ``zoneinfo`` before anything is added or subtracted. So a day
on which the clocks go forward really has 23 hours and one on which they go back 25, and an
interval's length is what a stopwatch would measure.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

UTC = dt.UTC
# How far the walk looks for open time before giving up: a calendar whose opening hours are
# all closed dates (a data-entry mistake) must not loop forever inside the worklist's
# transaction. Two years of nothing open is a broken calendar, not a long holiday.
MAX_DAYS_WITHOUT_OPEN_TIME = 2 * 366


class CalendarHasNoOpenTime(ValueError):
    """The calendar never opens (no hours, or every day closed): no deadline can be met."""


Interval = tuple[dt.time, dt.time | None]  # close None: the end of the day (24:00)


@dataclass(frozen=True)
class BusinessCalendar:
    """Opening hours per weekday (0 Monday .. 6 Sunday) in ``zone``, and closed dates.

    An interval is ``(opens, closes)`` in local wall time; ``closes`` None means midnight at
    the end of that day. Overnight service is two intervals (Mon 22:00-24:00, Tue 00:00-06:00).
    """

    zone: zoneinfo.ZoneInfo
    hours: Mapping[int, tuple[Interval, ...]]
    closed: frozenset[dt.date] = field(default_factory=frozenset)

    @classmethod
    def build(
        cls,
        zone: str | zoneinfo.ZoneInfo,
        hours: Iterable[tuple[int, dt.time, dt.time | None]],
        closed: Iterable[dt.date] = (),
    ) -> BusinessCalendar:
        if isinstance(zone, str):
            zone = zoneinfo.ZoneInfo(zone)
        by_day: dict[int, list[Interval]] = {}
        for weekday, opens, closes in hours:
            if closes is not None and closes == dt.time(0, 0):
                closes = None
            by_day.setdefault(weekday, []).append((opens, closes))
        return cls(
            zone=zone,
            hours={day: _merged(spans) for day, spans in by_day.items()},
            closed=frozenset(closed),
        )

    @property
    def ever_open(self) -> bool:
        return any(self.hours.values())

    def _instant(self, day: dt.date, at: dt.time | None) -> dt.datetime:
        """The UTC instant of a local wall time on ``day`` (None: midnight ending the day).

        A wall time that does not exist (inside the hour skipped in spring) resolves the way
        PEP 495 says for fold=0, i.e. to the instant an hour later on the new offset; one that
        exists twice (the hour repeated in autumn) is its first occurrence.
        """
        if at is None:
            day, at = day + dt.timedelta(days=1), dt.time(0, 0)
        return dt.datetime.combine(day, at, tzinfo=self.zone).astimezone(UTC)

    def open_intervals(self, start: dt.datetime) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        """Open intervals as UTC instants, in order, clipped to begin no earlier than start."""
        start = start.astimezone(UTC)
        # From the day before the local date: an interval of yesterday cannot reach into
        # today (they end at midnight at the latest), but starting a day early costs nothing
        # and keeps the walk right whatever the offset did overnight.
        day = start.astimezone(self.zone).date() - dt.timedelta(days=1)
        empty_days = 0
        while empty_days <= MAX_DAYS_WITHOUT_OPEN_TIME:
            found = False
            if day not in self.closed:
                for opens, closes in self.hours.get(day.weekday(), ()):
                    begin, end = self._instant(day, opens), self._instant(day, closes)
                    begin = max(begin, start)
                    if end > begin:
                        found = True
                        yield begin, end
            empty_days = 0 if found else empty_days + 1
            day += dt.timedelta(days=1)
        raise CalendarHasNoOpenTime("no open time in the business-hours calendar")


def _merged(spans: list[Interval]) -> tuple[Interval, ...]:
    """Sorted, overlapping or touching intervals joined: no minute is counted twice."""
    end_of_day = dt.time.max
    merged: list[list] = []
    for opens, closes in sorted(spans, key=lambda s: (s[0], s[1] or end_of_day)):
        if merged and (merged[-1][1] is None or opens <= merged[-1][1]):
            last = merged[-1]
            if last[1] is not None and (closes is None or closes > last[1]):
                last[1] = closes
            continue
        merged.append([opens, closes])
    return tuple((opens, closes) for opens, closes in merged)


def deadline_after(
    start: dt.datetime, minutes: float, calendar: BusinessCalendar | None = None
) -> dt.datetime:
    """The instant at which ``minutes`` of counted time have passed since ``start``.

    ``calendar`` None is 24/7: elapsed real time. Under business hours a clock started
    outside opening hours begins at the next opening, and a deadline that falls exactly on a
    closing time stays there (not at the next opening).
    """
    if start.tzinfo is None:
        raise ValueError("start must be an aware datetime")
    # In UTC before any arithmetic: an aware datetime in a ZoneInfo adds a timedelta to its
    # *wall* time (00:30 CDT + 2 h = 02:30 CST, three real hours on the night of the change).
    start = start.astimezone(UTC)
    remaining = dt.timedelta(minutes=minutes)
    if calendar is None or remaining <= dt.timedelta(0):
        return start + remaining
    if not calendar.ever_open:
        raise CalendarHasNoOpenTime("the calendar has no opening hours")
    for begin, end in calendar.open_intervals(start):
        available = end - begin
        if remaining <= available:
            return begin + remaining
        remaining -= available
    raise CalendarHasNoOpenTime("unreachable")  # pragma: no cover - open_intervals raises


def counted_between(
    start: dt.datetime, end: dt.datetime, calendar: BusinessCalendar | None = None
) -> dt.timedelta:
    """Counted time from ``start`` to ``end`` (zero when end is not after start)."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return dt.timedelta(0)
    if calendar is None:
        return end - start
    if not calendar.ever_open:
        return dt.timedelta(0)
    total = dt.timedelta(0)
    try:
        for begin, stop in calendar.open_intervals(start):
            if begin >= end:
                break
            total += min(stop, end) - begin
    except CalendarHasNoOpenTime:
        pass  # nothing more opens before the end: what was counted is all there is
    return total
