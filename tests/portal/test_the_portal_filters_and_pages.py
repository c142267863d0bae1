"""Filters (status, the day of arrival in the user's own zone, accession / patient search)
and pagination, on the page and through the API."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

from django.test import Client

from readingcenter.studies.models import Study
from tests.conftest import api_as
from tests.factories import make_study


def _ids(client, url) -> set[int]:
    html = client.get(url).content.decode()
    return {int(pk) for pk in re.findall(r'<tr data-study="(\d+)"', html)}


def test_status_and_search_narrow_the_list(journey, hospital_user_a):
    client = Client()
    client.force_login(hospital_user_a)

    assert _ids(client, "/portal/?status=preliminary") == {journey["preliminary"].pk}
    assert _ids(client, "/portal/?status=amended") == {journey["amended"].pk}
    received = journey["received"]
    assert _ids(client, f"/portal/?q={received.accession_number}") == {received.pk}
    assert _ids(client, "/portal/?q=P-RECV") == {received.pk}
    assert _ids(client, "/portal/?q=minho") == {received.pk}
    # Another hospital's patient is not found by name either.
    assert _ids(client, "/portal/?q=Wang") == set()
    api = api_as(hospital_user_a)
    assert [s["id"] for s in api.get("/api/v1/portal/studies/?status=final").json()["results"]] == [
        journey["final"].pk
    ]


def test_the_date_range_is_in_the_users_time_zone(hospital_a, hospital_user_a):
    hospital_user_a.time_zone = "Asia/Seoul"
    hospital_user_a.save(update_fields=["time_zone"])
    seoul = zoneinfo.ZoneInfo("Asia/Seoul")
    # 23:30 on 1 March in Seoul is still 1 March there, though 14:30 UTC.
    late = make_study(hospital_a)
    early = make_study(hospital_a)
    Study.objects.filter(pk=late.pk).update(
        received_at=dt.datetime(2026, 3, 1, 23, 30, tzinfo=seoul)
    )
    Study.objects.filter(pk=early.pk).update(
        received_at=dt.datetime(2026, 3, 2, 0, 30, tzinfo=seoul)
    )
    client = Client()
    client.force_login(hospital_user_a)

    assert _ids(client, "/portal/?since=2026-03-01&until=2026-03-01") == {late.pk}
    assert _ids(client, "/portal/?since=2026-03-02") == {early.pk}
    html = client.get("/portal/").content.decode()
    assert "2026-03-01 23:30 UTC+9" in html
    body = api_as(hospital_user_a).get("/api/v1/portal/studies/?since=2026-03-02&until=2026-03-02")
    assert [s["id"] for s in body.json()["results"]] == [early.pk]


def test_a_long_list_comes_in_pages(hospital_a, hospital_user_a):
    for _ in range(55):
        make_study(hospital_a)
    client = Client()
    client.force_login(hospital_user_a)

    first, second = _ids(client, "/portal/"), _ids(client, "/portal/?page=2")
    assert (len(first), len(second)) == (50, 5) and not first & second
    assert api_as(hospital_user_a).get("/api/v1/portal/studies/").json()["count"] == 55
