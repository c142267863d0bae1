"""Hour of day is the hour a study arrived: in its own hospital's zone by default, or in the
zone asked for (the pages ask for the user's)."""

from __future__ import annotations

from readingcenter.analytics.selectors import tat_breakdown
from tests.analytics.conftest import MARCH, at, signed_case


def counts(tat) -> dict[int, int]:
    return {int(r.key): r.count for r in tat.by_hour if r.count}


def test_each_case_falls_in_its_hospitals_local_hour(manager, hospital_a, hospital_b, radiologist):
    # 23:30 UTC is 08:30 next day in Seoul (UTC+9, Alpha) and 07:30 in Shanghai (UTC+8, Beta).
    signed_case(hospital_a, arrived=at(10, 23, 30), tat=20, reader=radiologist)
    signed_case(hospital_b, arrived=at(10, 23, 30), tat=20, reader=radiologist)
    tat = tat_breakdown(user=manager, period=MARCH)
    assert tat.hour_zone == "hospital"
    assert counts(tat) == {8: 1, 7: 1}
    assert len(tat.by_hour) == 24 and tat.by_hour[0].label == "00:00"


def test_a_named_zone_puts_every_case_in_that_zones_hour(manager, hospital_a, hospital_b,
                                                         radiologist):  # fmt: skip
    signed_case(hospital_a, arrived=at(10, 23, 30), tat=20, reader=radiologist)
    signed_case(hospital_b, arrived=at(10, 23, 30), tat=20, reader=radiologist)
    assert counts(tat_breakdown(user=manager, period=MARCH, zone="UTC")) == {23: 2}
    # New York is UTC-4 on 10 March 2026 (daylight time began on 8 March): 19:30.
    ny = tat_breakdown(user=manager, period=MARCH, zone="America/New_York")
    assert counts(ny) == {19: 2}


def test_the_page_draws_hours_in_the_users_zone(client, manager, hospital_a, radiologist):
    manager.time_zone = "Asia/Seoul"
    manager.save()
    signed_case(hospital_a, arrived=at(10, 23, 30), tat=20, reader=radiologist)
    client.force_login(manager)
    response = client.get("/analytics/hour.csv", {"month": "2026-03"})
    rows = [line.split(",") for line in response.content.decode().splitlines()[1:]]
    assert {r[0]: r[2] for r in rows}["8"] == "1"
