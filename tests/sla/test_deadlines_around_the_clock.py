"""24/7 promises: every minute counts, measured as elapsed real time, DST or not."""

from __future__ import annotations

import datetime as dt

from readingcenter.sla.clock import counted_between, deadline_after
from tests.sla.conftest import UTC, at


def test_a_24_7_deadline_is_the_start_plus_the_minutes():
    start = dt.datetime(2026, 11, 28, 23, 50, tzinfo=UTC)
    assert deadline_after(start, 30) == dt.datetime(2026, 11, 29, 0, 20, tzinfo=UTC)


def test_a_24_7_deadline_across_the_spring_change_is_real_elapsed_time():
    # 01:30 CST + 60 min = 03:30 CDT: the wall clock jumps, the stopwatch does not.
    start = at("America/Chicago", 2026, 3, 8, 1, 30)
    due = deadline_after(start, 60)
    assert due - start == dt.timedelta(minutes=60)
    assert due == at("America/Chicago", 2026, 3, 8, 3, 30)


def test_a_24_7_deadline_across_the_autumn_change_is_real_elapsed_time():
    # 00:30 CDT + 120 min = 01:30 CST (the second 01:30 of the night).
    start = at("America/Chicago", 2026, 11, 1, 0, 30)
    due = deadline_after(start, 120)
    assert due == dt.datetime(2026, 11, 1, 7, 30, tzinfo=UTC)
    assert counted_between(start, due) == dt.timedelta(hours=2)


def test_a_deadline_needs_an_aware_start():
    import pytest

    with pytest.raises(ValueError):
        deadline_after(dt.datetime(2026, 1, 1, 12, 0), 30)
