"""Each radiologist's row: on duty or not, the cases he holds, the reports he signed this
shift (and not those of an earlier shift or another reader)."""

from __future__ import annotations

import datetime as dt

from readingcenter.accounts.models import Shift
from readingcenter.ops.selectors import dashboard
from readingcenter.worklist import services
from tests.ops.conftest import case_with_clock, signed_report


def _row(d, user):
    (row,) = [r for r in d["radiologists"] if r["id"] == user.pk]
    return row


def test_a_radiologist_on_duty_shows_his_claims_and_the_reads_of_this_shift(
    hospital_a, radiologist, radiologist_b_only, now
):
    start = now - dt.timedelta(hours=2)
    Shift.objects.create(
        radiologist=radiologist, starts_at=start, ends_at=now + dt.timedelta(hours=6)
    )
    for _ in range(2):
        held = case_with_clock(hospital_a, now, arrived_min=10, due_in_min=100)
        services.case_claim(case_id=held.pk, user=radiologist)
    done = case_with_clock(hospital_a, now, arrived_min=100, due_in_min=100)
    signed_report(done, radiologist, signed_at=start + dt.timedelta(minutes=30), kind="preliminary")
    signed_report(done, radiologist, signed_at=start + dt.timedelta(minutes=60))
    # Before the shift began: not a read of this shift.
    earlier = case_with_clock(hospital_a, now, arrived_min=600, due_in_min=100)
    signed_report(earlier, radiologist, signed_at=start - dt.timedelta(minutes=1))
    # Another reader's signature counts for him, not for this one.
    other = case_with_clock(hospital_a, now, arrived_min=60, due_in_min=100)
    signed_report(other, radiologist_b_only, signed_at=now - dt.timedelta(minutes=5))

    d = dashboard(now=now)

    row = _row(d, radiologist)
    assert row["on_duty"] is True
    assert row["shift_started_at"] == start
    assert row["claimed"] == 2
    assert row["reads_this_shift"] == 2
    off = _row(d, radiologist_b_only)
    assert (off["on_duty"], off["claimed"], off["reads_this_shift"]) == (False, 0, 0)
    assert off["shift_started_at"] is None
    # On duty first.
    assert d["radiologists"][0]["id"] == radiologist.pk


def test_just_after_the_handover_the_night_shift_still_shows_its_reads(
    hospital_a, radiologist, now
):
    start, end = now - dt.timedelta(hours=9), now - dt.timedelta(hours=1)
    Shift.objects.create(radiologist=radiologist, starts_at=start, ends_at=end)
    case = case_with_clock(hospital_a, now, arrived_min=600, due_in_min=100)
    signed_report(case, radiologist, signed_at=start + dt.timedelta(hours=3))

    row = _row(dashboard(now=now), radiologist)

    assert row["on_duty"] is False
    assert row["shift_started_at"] == start
    assert row["reads_this_shift"] == 1
