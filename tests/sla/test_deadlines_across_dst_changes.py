"""Business hours across the clock changes: America/Chicago in March and November, and
Asia/Seoul, which has none. Lengths are measured on the stopwatch, openings on the wall."""

from __future__ import annotations

import datetime as dt

from readingcenter.sla.clock import BusinessCalendar, counted_between, deadline_after
from tests.sla.conftest import UTC, at

T = dt.time
ALL_DAY = [(d, T(0), None) for d in range(7)]


def test_a_chicago_opening_after_the_spring_change_is_at_0800_daylight_time():
    calendar = BusinessCalendar.build("America/Chicago", [(d, T(8), T(17)) for d in range(5)])
    start = at("America/Chicago", 2026, 3, 6, 16, 0)  # Friday, CST (UTC-6)
    due = deadline_after(start, 120, calendar)
    assert due == at("America/Chicago", 2026, 3, 9, 9, 0)  # Monday, CDT (UTC-5)
    assert due == dt.datetime(2026, 3, 9, 14, 0, tzinfo=UTC)


def test_a_chicago_opening_after_the_autumn_change_is_at_0800_standard_time():
    calendar = BusinessCalendar.build("America/Chicago", [(d, T(8), T(17)) for d in range(5)])
    start = at("America/Chicago", 2026, 10, 30, 16, 0)  # Friday, CDT (UTC-5)
    due = deadline_after(start, 120, calendar)
    assert due == dt.datetime(2026, 11, 2, 15, 0, tzinfo=UTC)  # Monday 09:00 CST (UTC-6)


def test_the_spring_day_of_a_round_the_clock_calendar_has_23_hours():
    calendar = BusinessCalendar.build("America/Chicago", ALL_DAY)
    start = at("America/Chicago", 2026, 3, 8, 0, 0)
    end = at("America/Chicago", 2026, 3, 9, 0, 0)
    assert counted_between(start, end, calendar) == dt.timedelta(hours=23)
    assert deadline_after(start, 24 * 60, calendar) == at("America/Chicago", 2026, 3, 9, 1, 0)


def test_the_autumn_day_of_a_round_the_clock_calendar_has_25_hours():
    calendar = BusinessCalendar.build("America/Chicago", ALL_DAY)
    start = at("America/Chicago", 2026, 11, 1, 0, 0)
    end = at("America/Chicago", 2026, 11, 2, 0, 0)
    assert counted_between(start, end, calendar) == dt.timedelta(hours=25)
    assert deadline_after(start, 24 * 60, calendar) == at("America/Chicago", 2026, 11, 1, 23, 0)


def test_a_night_shift_spanning_the_spring_change_counts_the_hour_that_never_was_as_nothing():
    # Saturday 22:00 to Sunday 06:00 local: 7 hours on the night the clocks go forward.
    calendar = BusinessCalendar.build("America/Chicago", [(5, T(22), None), (6, T(0), T(6))])
    start = at("America/Chicago", 2026, 3, 7, 22, 0)
    assert counted_between(start, start + dt.timedelta(days=1), calendar) == dt.timedelta(hours=7)
    assert deadline_after(start, 7 * 60, calendar) == at("America/Chicago", 2026, 3, 8, 6, 0)


def test_seoul_has_no_clock_change_so_its_opening_stays_at_the_same_utc_instant():
    calendar = BusinessCalendar.build("Asia/Seoul", [(d, T(9), T(18)) for d in range(5)])
    for month in (3, 11):  # the weeks Chicago changes its clocks
        friday = {3: 6, 11: 6}[month]
        start = at("Asia/Seoul", 2026, month, friday, 17, 0)
        due = deadline_after(start, 120, calendar)
        assert due == at("Asia/Seoul", 2026, month, friday + 3, 10, 0)
        assert due.astimezone(UTC).hour == 1  # 10:00 KST is 01:00 UTC all year
