"""Business-hours promises: only opening hours count, in the hospital's zone, across nights,
weekends and holidays."""

from __future__ import annotations

import datetime as dt

from readingcenter.sla.clock import BusinessCalendar, counted_between, deadline_after
from tests.sla.conftest import at

CHICAGO = "America/Chicago"
T = dt.time


def weekdays(closed=()):
    return BusinessCalendar.build(CHICAGO, [(d, T(8), T(17)) for d in range(5)], closed)


def test_time_inside_opening_hours_counts_minute_for_minute():
    start = at(CHICAGO, 2026, 6, 10, 9, 0)  # a Wednesday
    assert deadline_after(start, 120, weekdays()) == at(CHICAGO, 2026, 6, 10, 11, 0)


def test_the_clock_stops_overnight_and_resumes_at_the_next_opening():
    start = at(CHICAGO, 2026, 6, 10, 16, 0)  # one hour before closing
    assert deadline_after(start, 120, weekdays()) == at(CHICAGO, 2026, 6, 11, 9, 0)


def test_friday_afternoon_rolls_over_the_weekend_to_monday():
    start = at(CHICAGO, 2026, 6, 12, 16, 30)  # Friday
    assert deadline_after(start, 90, weekdays()) == at(CHICAGO, 2026, 6, 15, 9, 0)


def test_a_study_arriving_at_night_starts_its_clock_at_the_opening():
    start = at(CHICAGO, 2026, 6, 13, 3, 0)  # Saturday night
    assert deadline_after(start, 30, weekdays()) == at(CHICAGO, 2026, 6, 15, 8, 30)


def test_a_holiday_is_skipped_like_a_weekend():
    # Thursday 2026-12-24 16:00, Christmas (Friday) closed: on to Monday the 28th.
    calendar = weekdays(closed=[dt.date(2026, 12, 25)])
    start = at(CHICAGO, 2026, 12, 24, 16, 0)
    assert deadline_after(start, 120, calendar) == at(CHICAGO, 2026, 12, 28, 9, 0)


def test_a_deadline_that_falls_on_the_closing_time_stays_there():
    start = at(CHICAGO, 2026, 6, 10, 16, 0)
    assert deadline_after(start, 60, weekdays()) == at(CHICAGO, 2026, 6, 10, 17, 0)


def test_a_lunch_break_does_not_count():
    calendar = BusinessCalendar.build(
        CHICAGO, [(2, T(8), T(12)), (2, T(13), T(17))]
    )  # Wednesdays only
    start = at(CHICAGO, 2026, 6, 10, 11, 30)
    assert deadline_after(start, 60, calendar) == at(CHICAGO, 2026, 6, 10, 13, 30)


def test_overnight_service_is_two_intervals_joined_at_midnight():
    # Monday 22:00-24:00 and Tuesday 00:00-06:00: 8 hours without a break.
    calendar = BusinessCalendar.build(CHICAGO, [(0, T(22), T(0)), (1, T(0), T(6))])
    start = at(CHICAGO, 2026, 6, 8, 23, 0)
    assert deadline_after(start, 300, calendar) == at(CHICAGO, 2026, 6, 9, 4, 0)


def test_counted_time_over_a_weekend_is_only_the_open_hours():
    start = at(CHICAGO, 2026, 6, 12, 16, 0)  # Friday 16:00
    end = at(CHICAGO, 2026, 6, 15, 8, 30)  # Monday 08:30
    assert counted_between(start, end, weekdays()) == dt.timedelta(minutes=90)


def test_a_calendar_that_never_opens_is_refused_not_looped_on_forever():
    import pytest

    from readingcenter.sla.clock import CalendarHasNoOpenTime

    with pytest.raises(CalendarHasNoOpenTime):
        deadline_after(at(CHICAGO, 2026, 6, 10, 9, 0), 60, BusinessCalendar.build(CHICAGO, []))
