"""The dashboard names what nobody can read and which hospitals run on the default promise,
and each number opens the cases behind it."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client

from readingcenter.accounts.models import Shift
from readingcenter.ops.selectors import dashboard
from readingcenter.sla.services import sla_policy_set
from tests.ops.conftest import case_with_clock

pytestmark = pytest.mark.django_db


@pytest.fixture
def alpha_covered_beta_not(hospital_a, hospital_b, radiologist_b_only, manager, now):
    from tests.conftest import grant

    # dr.beta is on duty but credentialed at Beta only... and loses Beta: nobody reads Beta.
    grant(radiologist_b_only, hospital_a)
    radiologist_b_only.privileges.filter(hospital=hospital_b).delete()
    Shift.objects.create(radiologist=radiologist_b_only, starts_at=now - dt.timedelta(hours=1),
                         ends_at=now + dt.timedelta(hours=1))  # fmt: skip
    for priority in ("stat", "urgent", "routine"):
        sla_policy_set(hospital=hospital_a, priority=priority, target_minutes=60, actor=manager)
    alpha = case_with_clock(hospital_a, now, arrived_min=5, due_in_min=50)
    beta = [
        case_with_clock(
            hospital_b, now, arrived_min=i, due_in_min=25 - i, priority=p, ai_flagged=p == "stat"
        )
        for i, p in enumerate(("stat", "stat", "routine"))
    ]
    return alpha, beta


def test_uncovered_cases_and_the_hospital_without_a_policy_are_counted(alpha_covered_beta_not, now):
    _alpha, beta = alpha_covered_beta_not
    coverage = dashboard(now=now)["coverage"]
    uncovered = coverage["uncovered"]
    assert (uncovered["count"], uncovered["stat"]) == (3, 2)
    assert uncovered["by_hospital"] == [
        {"code": "beta", "name": "Beta General", "count": 3, "stat": 2}
    ]
    # In reading order: the STAT due soonest first.
    assert [i["case_id"] for i in uncovered["items"]] == [beta[1].pk, beta[0].pk, beta[2].pk]
    (no_policy,) = coverage["hospitals_without_policy"]
    assert (no_policy["code"], no_policy["none"], no_policy["open"]) == ("beta", True, 3)
    assert no_policy["default_minutes"] == {"stat": 30, "urgent": 120, "routine": 1440}


def test_the_page_shows_them_and_the_number_opens_the_cases(alpha_covered_beta_not, manager):
    _alpha, beta = alpha_covered_beta_not
    client = Client()
    client.force_login(manager)
    html = client.get("/ops/").content.decode()
    assert 'id="tile-uncovered"' in html and "2</span> STAT" in html
    assert "Hospitals without an SLA policy" in html and "any priority" in html
    link = re.search(r'id="tile-uncovered" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    listed = client.get(link).content.decode()
    assert "Uncovered cases" in listed
    assert {int(pk) for pk in re.findall(r'data-case="(\d+)"', listed)} == {c.pk for c in beta}
    policy = re.search(r'<tr data-no-policy="beta">.*?<a href="([^"]+)">Set a policy', html, re.S)
    assert policy.group(1).startswith("/admin/sla/slapolicy/add/?hospital=")
