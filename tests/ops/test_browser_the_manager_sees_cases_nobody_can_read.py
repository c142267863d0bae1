"""In a real browser: a hospital with open cases, AI-flagged STAT ones among them, but no
radiologist credentialed and no SLA policy. The manager lands on the dashboard, sees the
uncovered cases and the hospital without a policy; the STAT ones alert him once (the sla
pass), and the dashboard says when; one click opens the cases.

Screenshots are kept under the test's folder (or BROWSER_SCREENSHOTS); the run prints where.
"""

from __future__ import annotations

import re

import pytest

from readingcenter.sla.models import CoverageAlert
from readingcenter.sla.services import sla_alert_uncovered
from tests.browser import enter_second_factor, needs_chromium, screenshots, server_password
from tests.ops.conftest import case_with_clock
from tests.reports.conftest import PASSWORD

pytestmark = [pytest.mark.slow, needs_chromium]


def test_the_manager_sees_and_is_alerted_of_cases_nobody_can_read(
    live_server_daphne, browser, manager, hospital_a, settings, tmp_path
):
    from django.utils import timezone
    from playwright.sync_api import expect

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"  # no mail here
    url, shots, now = live_server_daphne, screenshots(tmp_path), timezone.now()
    stat = [
        case_with_clock(
            hospital_a, now, arrived_min=5 + i, due_in_min=25 - i, priority="stat", ai_flagged=True
        )
        for i in range(3)
    ]
    for i in range(4):
        case_with_clock(hospital_a, now, arrived_min=30 + i, due_in_min=600, priority="routine")
    server_password(manager, PASSWORD)
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    try:
        page.goto(f"{url}/login/")
        page.get_by_label("Username").fill(manager.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        enter_second_factor(page, manager)
        page.wait_for_url(f"{url}/ops/")  # managers land on the dashboard
        tile = page.locator("#tile-uncovered")
        expect(tile.locator('[data-figure="uncovered"]')).to_have_text("7")
        expect(tile.locator('[data-figure="uncovered_stat"]')).to_have_text("3")
        expect(
            page.locator('#tile-no-policy [data-figure="hospitals_without_policy"]')
        ).to_have_text("1")
        expect(page.locator('tr[data-no-policy="alpha"]')).to_contain_text("any priority")
        first = page.locator(f'tr[data-uncovered-case="{stat[2].pk}"]')
        expect(first).to_contain_text("within a minute")

        # The minute's pass alerts the managers of the STAT ones, once; the page says when.
        assert sorted(sla_alert_uncovered()) == sorted(c.pk for c in stat)
        assert sla_alert_uncovered() == []
        assert CoverageAlert.objects.count() == 3
        expect(first.locator(".alerted")).to_be_visible(timeout=25_000)
        page.locator("#coverage").scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "ops-uncovered.png"), full_page=True)

        page.get_by_role("link", name="Notifications").click()
        expect(page.locator("table.sla-notifications")).to_contain_text("no radiologist on duty")

        page.go_back()
        page.locator("#tile-uncovered").click()
        page.wait_for_url(re.compile(r".*/ops/cases/\?coverage=uncovered$"))
        expect(page.locator("tr[data-case]")).to_have_count(7)
        page.screenshot(path=str(shots / "ops-uncovered-cases.png"))
    except Exception:
        page.screenshot(path=str(shots / "failed-ops-uncovered.png"), full_page=True)
        raise
