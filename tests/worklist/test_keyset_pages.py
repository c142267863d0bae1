"""The worklist API pages by keyset (DRF cursor links) in reading order, ties included; the
page-number form stays for older clients; a page costs the same few queries at any depth."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from readingcenter.worklist import api as worklist_api
from readingcenter.worklist.models import Case
from readingcenter.worklist.selectors import worklist
from tests.conftest import api_as
from tests.factories import make_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def thirteen_cases(hospital_a, hospital_b, radiologist, monkeypatch):
    """Thirteen open cases, pages of four; several share a priority, a deadline, an AI score
    and an arrival, so that only the id tells them apart."""
    monkeypatch.setattr(worklist_api.WorklistPagination, "page_size", 4)
    cases = [
        make_case(hospital_a if i % 2 else hospital_b, completed_minutes_ago=30 + i % 3,
                  priority="urgent" if i % 5 == 0 else "routine")
        for i in range(13)
    ]  # fmt: skip
    same = cases[1]
    Case.objects.filter(pk__in=[c.pk for c in cases[3:9]]).update(
        due_at=same.due_at, arrived_at=same.arrived_at, ai_score=0.5
    )
    Case.objects.filter(pk__in=[cases[4].pk, cases[6].pk]).update(ai_score=0.7)
    api_as(radiologist).post(f"/api/v1/worklist/{cases[2].pk}/claim/")
    return [case.pk for case in worklist(user=radiologist)]


def _ids(body):
    return [row["id"] for row in body["results"]]


def test_next_links_walk_the_whole_worklist_in_order_and_previous_links_walk_back(
    thirteen_cases, radiologist
):
    api = api_as(radiologist)
    body = api.get("/api/v1/worklist/").json()
    assert body["previous"] is None and "count" not in body
    pages = [_ids(body)]
    while body["next"]:
        body = api.get(body["next"]).json()
        pages.append(_ids(body))
    assert [pk for page in pages for pk in page] == thirteen_cases
    assert [len(page) for page in pages] == [4, 4, 4, 1]
    back = [_ids(body)]
    while body["previous"]:
        body = api.get(body["previous"]).json()
        back.insert(0, _ids(body))
    assert back == pages


def test_filters_stay_on_the_links(thirteen_cases, radiologist):
    api = api_as(radiologist)
    urgent = api.get("/api/v1/worklist/", {"priority": "urgent"}).json()
    assert urgent["next"] is None and all(r["priority"] == "urgent" for r in urgent["results"])
    first = api.get("/api/v1/worklist/", {"hospital": "alpha"}).json()
    second = api.get(first["next"]).json()
    assert "hospital=alpha" in first["next"]
    assert {r["hospital"]["code"] for r in first["results"] + second["results"]} == {"alpha"}


def test_the_page_number_form_still_answers_with_its_count(thirteen_cases, radiologist):
    api = api_as(radiologist)
    body = api.get("/api/v1/worklist/", {"page": 2}).json()
    assert body["count"] == 13 and _ids(body) == thirteen_cases[4:8]
    assert "page=3" in body["next"] and "page" not in body["previous"].split("?", 1)[-1]
    assert api.get("/api/v1/worklist/", {"page": 9}).status_code == 404


def test_a_forged_cursor_is_not_found_not_a_server_error(thirteen_cases, radiologist):
    api = api_as(radiologist)
    for cursor in ("nonsense", "cD0xfjI=", "cj0x"):  # not base64; p=1~2; r=1 alone
        assert api.get("/api/v1/worklist/", {"cursor": cursor}).status_code == 404


def test_the_row_serialiser_agrees_with_the_declared_fields(thirteen_cases, radiologist):
    from readingcenter.worklist.api import CaseSerializer, _case_rows
    from readingcenter.worklist.selectors import worklist_rows

    Case.objects.filter(pk=thirteen_cases[0]).update(signed_at=timezone.now(), state="signed")
    now = timezone.now()
    cases = list(worklist(user=radiologist, filters={"state": "all"}))
    rows = _case_rows(worklist_rows(user=radiologist, filters={"state": "all"}), now=now)
    assert [row["id"] for row in rows] == [case.pk for case in cases]
    for case, row in zip(cases, rows, strict=True):
        assert row == CaseSerializer(case, context={"now": now}).generic_representation(case)
    timezone.activate("Asia/Seoul")  # a user's own zone (the middleware activates it)
    try:
        row = _case_rows(worklist_rows(user=radiologist), now=now)[0]
        case = worklist(user=radiologist)[0]
        assert row == CaseSerializer(case, context={"now": now}).generic_representation(case)
        assert row["due_at"].endswith("+09:00")
    finally:
        timezone.deactivate()


def test_a_page_costs_the_same_queries_at_any_depth(thirteen_cases, radiologist):
    api = api_as(radiologist)
    api.get("/api/v1/worklist/")  # the token's first use
    with CaptureQueriesContext(connection) as first:
        body = api.get("/api/v1/worklist/").json()
    with CaptureQueriesContext(connection) as deeper:
        api.get(api.get(body["next"]).json()["next"])
    # The token, the reader's hospitals, the page's one query, the audit line: no count, no
    # query per row.
    assert len(first.captured_queries) == 4
    assert len(deeper.captured_queries) == 2 * 4


def test_the_worklist_page_reads_its_rows_in_one_query(hospital_a, radiologist):
    browser = Client()
    browser.force_login(radiologist)
    case = make_case(hospital_a)
    html = browser.get("/worklist/").content.decode()
    # The case's links, formatted per row from one resolved URL each.
    assert f'href="{reverse("case-detail", args=[case.pk])}"' in html
    assert f'action="{reverse("case-claim", args=[case.pk])}"' in html
    with CaptureQueriesContext(connection) as one:
        browser.get("/worklist/?partial=1")
    for _ in range(5):
        make_case(hospital_a)
    with CaptureQueriesContext(connection) as six:
        browser.get("/worklist/?partial=1")
    assert len(six.captured_queries) == len(one.captured_queries)
