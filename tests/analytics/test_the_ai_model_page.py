"""The model page (managers): a version's card (intended use, validation table, threshold,
calibration), its state with the pause history and a pause button, live monitoring and its
alarms, and how the signed reports took its findings, read from analytics' own AI selector."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from readingcenter.audit.models import AuditEvent
from tests.analytics.conftest import final_report, signed_case, triage_run
from tests.triage.monitoring_cast import model_version, record_runs
from triage.alarms import triage_monitor
from triage.models import ModelVersion

pytestmark = pytest.mark.django_db
PAGE = "/ai/models/head-ct-ich/1.0.0/"
SHIPPED_CARD = Path(django_settings.BASE_DIR) / "triage" / "packages" / "head-ct-ich" / "model.json"


@pytest.fixture
def version(settings) -> ModelVersion:
    """head-ct-ich 1.0.0 with the shipped card, as a worker registers it."""
    settings.TRIAGE_MODEL_DIRS = []
    card = json.loads(SHIPPED_CARD.read_text())
    return model_version(version="1.0.0", monitoring=None, **{
        k: v for k, v in card.items() if k not in ("name", "version", "monitoring")
    })  # fmt: skip


def _as(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_page_shows_the_card_its_validation_and_its_operating_point(manager, version):
    page = _as(manager).get(PAGE)
    assert page.status_code == 200
    html = page.content.decode()
    card = version.card
    assert card["intended_use"][:60] in html
    assert "not for clinical use" in html.lower()
    # One row per validation family the card names, with its AUC and CI.
    assert 'id="validation"' in html
    validation = card["validation"]
    families = {"held_out": validation["held_out"]}
    families |= {f["family"]: f for f in validation["shifted"]}
    rows = re.findall(r"<tr><td>([^<]+)</td><td><small>", html.split('id="validation"')[1])
    assert sorted(rows) == sorted(families)  # the goal the card states is no family
    for family, figures in families.items():
        assert f"<td>{family}</td>" in html
        assert f"{figures['auc']:.3f}" in html
    assert str(card["findings"][0]["threshold"]) in html
    assert f"T = {card['calibration']['temperature']}" in html
    assert "choose_threshold" in html  # how the threshold was chosen
    # No monitoring in this card: the page says the defaults are used.
    assert "sets no monitoring expectations" in html
    assert AuditEvent.objects.filter(action="triage.model_version.read", actor_label="mgr").exists()


def test_the_page_shows_the_rates_the_alarm_and_the_agreement_with_signed_reports(
    manager, radiologist, hospital_a, version
):
    now = timezone.now()
    record_runs(version, hospital_a, at=now - dt.timedelta(minutes=20), total=60, flagged=40)
    triage_monitor(now=now)
    case = signed_case(hospital_a, arrived=now - dt.timedelta(days=2), tat=30, reader=radiologist)
    sentence = {"finding": "ich", "model_name": "head-ct-ich", "model_version": "1.0.0",
                "review": "accepted", "outcome": "kept", "similarity": 1.0}  # fmt: skip
    final_report(case, ai_acceptance=[sentence])
    triage_run(case, model="head-ct-ich", version="1.0.0", flags={"ich": True})
    html = _as(manager).get(PAGE).content.decode()
    # The 60 runs, and the one on the reported study: 41 of 61 flagged in the last hour.
    hour = '<tr data-window="hour"><td>Last hour</td><td class="num">61</td><td class="num">41'
    assert hour in html
    assert "above its band" in html
    assert "flagged 40 of 60 studies (67%) in the last hour" in html  # the alarm, when it fired
    # Agreement: one report, one sentence kept, confirmed 100 %.
    agreement = html.split("Agreement with signed reports")[1].split("</table>")[0]
    assert '<td class="num">1</td><td class="num">1</td><td class="num">1</td>' in agreement
    assert "100 %" in agreement
    # Drift: 60 runs so far, not enough for a reference of its own.
    assert "collecting the reference: 61 of 200 runs" in html


def test_a_manager_pauses_it_from_the_page_and_the_history_says_who_and_why(manager, version):
    client = _as(manager)
    refused = client.post(f"{PAGE}pause/", {"reason": "  "}, follow=True)
    assert "Say why" in refused.content.decode()
    assert not ModelVersion.objects.get(pk=version.pk).is_paused
    done = client.post(f"{PAGE}pause/", {"reason": "flags every CT"}, follow=True)
    html = done.content.decode()
    assert "Paused: it runs nothing until resumed." in html
    assert 'id="state">paused' in html
    assert "<td>Paused</td><td>mgr</td><td>flags every CT</td>" in html
    assert ModelVersion.objects.get(pk=version.pk).is_paused


def test_only_managers_see_it_and_an_unknown_version_is_404(radiologist, manager, version):
    assert _as(radiologist).get(PAGE).status_code == 403
    assert _as(radiologist).post(f"{PAGE}pause/", {"reason": "x"}).status_code == 403
    assert _as(manager).get("/ai/models/head-ct-ich/9.9.9/").status_code == 404
    listing = _as(manager).get("/ai/models/").content.decode()
    assert 'href="/ai/models/head-ct-ich/1.0.0/"' in listing


def test_the_page_shows_what_the_novelty_record_withholds_per_source(manager, settings):
    """The chest card's novelty record: its limit and rule, and per validation source how many
    studies and true findings it withheld (a head card without one says so)."""
    settings.TRIAGE_MODEL_DIRS = []
    chest = json.loads((SHIPPED_CARD.parents[1] / "cxr-pneumothorax" / "model.json").read_text())
    model_version(name="cxr-pneumothorax", version="1.0.0", monitoring=None, **{
        k: v for k, v in chest.items() if k not in ("name", "version", "monitoring")
    })  # fmt: skip
    html = _as(manager).get("/ai/models/cxr-pneumothorax/1.0.0/").content.decode()
    table = html.split('id="novelty"')[1].split("</table>")[0]
    for source, figures in chest["novelty"]["sources"].items():
        row = (
            f'<tr><td>{source}</td><td class="num">{figures["n"]}</td>'
            f'<td class="num">{figures["withheld"]}</td>'
            f'<td class="num">{figures["withheld_positives"]}</td>'
        )
        assert row in table
    assert str(chest["novelty"]["limit"]) in html
    assert "Largest Mahalanobis distance".lower() in html.lower()
    model_version(version="1.0.0", monitoring=None)
    head = _as(manager).get(PAGE).content.decode()
    assert "has no novelty record" in head
