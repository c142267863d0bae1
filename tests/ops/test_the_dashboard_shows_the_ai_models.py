"""The ops dashboard's "AI models" section: each version's state, positive rates against
its band, drift and the alarms of the last day, linking to its page and its runs; the same
in the API; and it costs the same few queries for one version as for four."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from readingcenter.ops.selectors import ai_models
from tests.conftest import api_as
from tests.triage.monitoring_cast import model_version, record_runs
from triage import services
from triage.alarms import triage_monitor

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_packages(settings):
    settings.TRIAGE_MODEL_DIRS = []


def test_each_version_shows_its_state_rates_and_alarm_with_links(hospital_a, manager):
    now = timezone.now()
    loud = model_version(version="2.0.0")
    record_runs(loud, hospital_a, at=now - dt.timedelta(minutes=5), total=60, flagged=40)
    triage_monitor(now=now)
    model_version(version="1.0.0")
    services.model_version_pause(model_name="head-ct-ich", model_version="1.0.0", actor=manager,
                                 reason="replaced")  # fmt: skip
    client = Client()
    client.force_login(manager)
    for url in ("/ops/", "/ops/?partial=1"):
        html = client.get(url).content.decode()
        section = html.split('id="ai-models"')[1]
        assert 'href="/ai/models/head-ct-ich/2.0.0/"' in section
        assert "/admin/triage/triagerun/?model_name=head-ct-ich&amp;model_version=2.0.0" in section
        assert '<span class="badge urgent">paused</span>' in section
        assert "40 of 60" in section and "67 %" in section
        assert "flagged 40 of 60 studies (67%) in the last hour" in section
    data = api_as(manager).get("/api/v1/ops/dashboard/").json()
    rows = {r["model_version"]: r for r in data["ai_models"]}
    assert rows["1.0.0"]["state"] == "paused" and rows["2.0.0"]["state"] == "active"
    hour = rows["2.0.0"]["windows"][0]
    assert (hour["window"], hour["studies"], hour["positives"], hour["out_of_band"]) == (
        "hour", 60, 40, "high",
    )  # fmt: skip
    assert len(rows["2.0.0"]["alarms"]) == 2
    assert rows["2.0.0"]["links"]["page"] == "/ai/models/head-ct-ich/2.0.0/"


def test_the_section_takes_the_same_queries_for_one_version_as_for_four(hospital_a):
    now = timezone.now()
    first = model_version(version="1.0.0")
    record_runs(first, hospital_a, at=now - dt.timedelta(minutes=5), total=5, flagged=1)
    with CaptureQueriesContext(connection) as one:
        ai_models(now=now)
    for n in range(2, 5):
        more = model_version(version=f"{n}.0.0")
        record_runs(more, hospital_a, at=now - dt.timedelta(minutes=5), total=5, flagged=1)
    with CaptureQueriesContext(connection) as four:
        rows = ai_models(now=now)
    assert len(rows) == 4
    assert len(one) == len(four) <= 6
