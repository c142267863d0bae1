"""The dashboard covers every hospital: radiologists and hospital users are refused its pages
(403, as the worklist's manager pages do), its API (403) and its live hints."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.conftest import api_as

PAGES = [
    "/ops/",
    "/ops/?partial=1",
    "/ops/cases/?sla=breached",
    "/ops/reads/?reader=1&since=2026-01-01T00:00:00Z",
    "/ops/deliveries/",
]


@pytest.mark.parametrize("who", ["radiologist", "hospital_user_a"])
def test_the_dashboard_pages_refuse_anyone_but_a_manager(request, who):
    client = Client()
    client.force_login(request.getfixturevalue(who))
    for url in PAGES:
        assert client.get(url).status_code == 403, url
    assert api_as(request.getfixturevalue(who)).get("/api/v1/ops/dashboard/").status_code == 403


def test_an_anonymous_visitor_is_sent_to_log_in(db):
    response = Client().get("/ops/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert api_as(None).get("/api/v1/ops/dashboard/").status_code == 401


def test_a_manager_sees_every_page(manager):
    client = Client()
    client.force_login(manager)
    for url in PAGES:
        assert client.get(url).status_code == 200, url
