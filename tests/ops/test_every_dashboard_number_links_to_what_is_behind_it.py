"""A click on any number of the dashboard opens the list of exactly the cases or items it
counts: the page links them, and each link's page lists them."""

from __future__ import annotations

import datetime as dt
import re

from django.test import Client

from readingcenter.accounts.models import Shift
from readingcenter.worklist import services
from tests.ops.conftest import case_with_clock, critical_result, failed_delivery, signed_report


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _href(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}" href="([^"]+)"', html)
    assert match, element_id
    return match.group(1).replace("&amp;", "&")


def _cases_on(client, url) -> set[int]:
    response = client.get(url)
    assert response.status_code == 200, url
    return {int(pk) for pk in re.findall(r'data-case="(\d+)"', response.content.decode())}


def test_each_number_opens_the_cases_behind_it(hospital_a, hospital_b, manager, radiologist, now):
    breached = case_with_clock(
        hospital_a, now, arrived_min=90, due_in_min=-10, priority="stat", ai_flagged=True
    )
    at_risk = case_with_clock(hospital_b, now, arrived_min=40, due_in_min=10, priority="urgent")
    fine = case_with_clock(hospital_b, now, arrived_min=5, due_in_min=300)
    held = case_with_clock(hospital_a, now, arrived_min=20, due_in_min=300)
    services.case_claim(case_id=held.pk, user=radiologist)
    client = _client(manager)

    html = client.get("/ops/").content.decode()

    assert _cases_on(client, _href(html, "tile-open")) == {
        breached.pk,
        at_risk.pk,
        fine.pk,
        held.pk,
    }
    assert _cases_on(client, _href(html, "tile-unread")) == {breached.pk, at_risk.pk, fine.pk}
    assert _cases_on(client, _href(html, "tile-at-risk")) == {at_risk.pk}
    assert _cases_on(client, _href(html, "tile-breached")) == {breached.pk}
    assert _cases_on(client, _href(html, "tile-ai")) == {breached.pk}

    # By priority and by hospital: the row's links filter the same way.
    stat_row = re.search(r'<tr data-priority="stat">(.*?)</tr>', html, re.S).group(1)
    links = dict(re.findall(r'<a href="([^"]+)" data-figure="(\w+)"', stat_row))
    by_figure = {figure: href.replace("&amp;", "&") for href, figure in links.items()}
    assert _cases_on(client, by_figure["open"]) == {breached.pk}
    assert by_figure["oldest"] == f"/cases/{breached.pk}/"
    beta_row = re.search(r'<tr data-hospital="beta">(.*?)</tr>', html, re.S).group(1)
    by_figure = {
        f: h.replace("&amp;", "&")
        for h, f in re.findall(r'<a href="([^"]+)" data-figure="(\w+)"', beta_row)
    }
    assert _cases_on(client, by_figure["open"]) == {at_risk.pk, fine.pk}
    assert _cases_on(client, by_figure["at_risk"]) == {at_risk.pk}
    assert _cases_on(client, by_figure["breached"]) == set()

    # A radiologist's claimed cases.
    reader_row = re.search(rf'<tr data-reader="{radiologist.pk}">(.*?)</tr>', html, re.S).group(1)
    claimed_href = re.search(r'<a href="([^"]+)" data-figure="claimed">1</a>', reader_row).group(1)
    assert _cases_on(client, claimed_href.replace("&amp;", "&")) == {held.pk}


def test_reads_deliveries_and_critical_results_open_their_lists(
    hospital_a, manager, radiologist, now
):
    Shift.objects.create(
        radiologist=radiologist,
        starts_at=now - dt.timedelta(hours=1),
        ends_at=now + dt.timedelta(hours=7),
    )
    case = case_with_clock(hospital_a, now, arrived_min=90, due_in_min=60)
    report = signed_report(case, radiologist, signed_at=now - dt.timedelta(minutes=5))
    delivery = failed_delivery(report)
    result = critical_result(report, now)
    client = _client(manager)

    html = client.get("/ops/").content.decode()

    reader_row = re.search(rf'<tr data-reader="{radiologist.pk}">(.*?)</tr>', html, re.S).group(1)
    reads_href = re.search(r'<a href="([^"]+)" data-figure="reads">1</a>', reader_row).group(1)
    reads = client.get(reads_href.replace("&amp;", "&")).content.decode()
    assert re.findall(r'data-report="(\d+)"', reads) == [str(report.pk)]

    deliveries = client.get(_href(html, "tile-deliveries")).content.decode()
    assert re.findall(r'data-delivery="(\d+)"', deliveries) == [str(delivery.pk)]
    assert f"/deliveries/{delivery.pk}/retry/" in deliveries

    critical_href = _href(html, "tile-critical")
    assert critical_href == "/critical-results/?state=open"
    assert f"/critical-results/{result.pk}/" in client.get(critical_href).content.decode()


def test_the_api_gives_the_same_figures_with_their_links(hospital_a, manager, now):
    from tests.conftest import api_as

    case = case_with_clock(hospital_a, now, arrived_min=90, due_in_min=-10, priority="stat")

    body = api_as(manager).get("/api/v1/ops/dashboard/").json()

    assert body["queue"]["open"] == 1 and body["queue"]["breached"] == 1
    assert body["queue"]["oldest"]["case_id"] == case.pk
    assert body["breached"][0]["url"] == f"/cases/{case.pk}/"
    assert body["links"]["breached"] == "/ops/cases/?sla=breached"
    stat = next(b for b in body["by_priority"] if b["priority"] == "stat")
    assert stat["links"]["open"] == "/worklist/?priority=stat"
