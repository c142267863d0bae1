"""In a real browser: a manager opens the operations dashboard, reads the queue, sees a case
that arrives afterwards change the numbers without reloading (live hint, or the next poll
when the socket is not there), and clicks a number to open the cases behind it.

The project runs under daphne against the test database, as in production.
"""

from __future__ import annotations

import re

import pytest

from tests.browser import (
    enter_second_factor,
    needs_chromium,
    server_password,
)
from tests.ops.conftest import case_with_clock
from tests.reports.conftest import PASSWORD

pytestmark = [
    pytest.mark.slow,
    needs_chromium,
]


def test_a_manager_watches_the_queue_grow_and_opens_the_cases_behind_a_number(
    live_server_daphne, browser, manager, hospital_a, hospital_b
):
    from django.utils import timezone
    from playwright.sync_api import expect

    url = live_server_daphne
    now = timezone.now()
    first = case_with_clock(hospital_a, now, arrived_min=50, due_in_min=-10, priority="stat")
    server_password(manager, PASSWORD)
    page = browser.new_page()
    page.goto(f"{url}/login/?next=/ops/")
    page.get_by_label("Username").fill(manager.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    enter_second_factor(page, manager)
    page.wait_for_url(f"{url}/ops/")

    stat_open = page.locator('tr[data-priority="stat"] [data-figure="open"]')
    expect(page.locator('#tile-open [data-figure="open"]')).to_have_text("1")
    expect(page.locator('#tile-breached [data-figure="breached"]')).to_have_text("1")
    expect(stat_open).to_have_text("1")
    expect(page.locator(f'tr[data-case="{first.pk}"]')).to_contain_text("over")

    # A second STAT case arrives (at another hospital): the page changes by itself.
    second = case_with_clock(
        hospital_b, timezone.now(), arrived_min=1, due_in_min=40, priority="stat"
    )
    expect(stat_open).to_have_text("2", timeout=25_000)
    expect(page.locator('#tile-open [data-figure="open"]')).to_have_text("2")
    expect(page.locator('tr[data-hospital="beta"] [data-figure="open"]')).to_have_text("1")

    # One click from the number to the cases behind it.
    stat_open.click()
    page.wait_for_url(re.compile(r".*/worklist/\?priority=stat$"))
    rows = page.locator("tr[data-case]")
    expect(rows).to_have_count(2)
    assert {int(pk) for pk in [rows.nth(i).get_attribute("data-case") for i in range(2)]} == {
        first.pk,
        second.pk,
    }
    page.go_back()
    page.locator("#tile-breached").click()
    page.wait_for_url(re.compile(r".*/ops/cases/\?sla=breached$"))
    expect(page.locator("tr[data-case]")).to_have_count(1)
    expect(page.locator(f'tr[data-case="{first.pk}"]')).to_be_visible()
