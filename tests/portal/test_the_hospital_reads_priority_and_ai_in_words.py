"""What hospital staff read about a study is in words: why its priority is what it is (an
Urgent order raised to STAT by the AI says so), what the AI did, and likelihoods as percents."""

from __future__ import annotations

import pytest
from django.test import Client

from readingcenter.studies.services import order_create, study_priority_refresh
from tests.factories import make_study

pytestmark = pytest.mark.django_db


def _refreshed(study):
    study.refresh_from_db()
    study_priority_refresh(study, actor_label="system:ingest")
    study.save()
    study.refresh_from_db()
    return study


def _page(user, url) -> str:
    client = Client()
    client.force_login(user)
    return client.get(url).content.decode()


def test_an_urgent_order_raised_to_stat_by_the_ai_says_so(hospital_a, hospital_user_a):
    from triage.models import TriageRun

    study = make_study(hospital_a, accession_number="SN-1", modalities=["CR"], version=1)
    order_create(hospital=hospital_a, actor=hospital_user_a, accession_number="SN-1",
                 requested_procedure="Chest PA", priority="urgent")  # fmt: skip
    TriageRun.objects.create(
        study=study, study_version=1, model_name="cxr-pneumothorax", model_version="1.0.0",
        weights_sha256="cd" * 32, thresholds={"pneumothorax": 0.435672}, status="succeeded",
        probabilities={"pneumothorax": 0.99}, flags={"pneumothorax": True},
        draft_findings=["AI-generated: findings suggestive of pneumothorax."],
    )  # fmt: skip
    TriageRun.objects.create(
        study=study, study_version=1, model_name="head-ct-ich", model_version="1.0.0",
        weights_sha256="ab" * 32, thresholds={}, status="not_applicable", probabilities={},
        flags={}, draft_findings=[], reason="not a head CT",
    )  # fmt: skip
    study = _refreshed(study)
    assert study.priority == "stat"

    html = _page(hospital_user_a, f"/studies/{study.pk}/")
    assert (
        "ordered Urgent → STAT (raised by AI model cxr-pneumothorax 1.0.0: pneumothorax "
        "flagged, 99%)" in html
    )
    assert "pneumothorax: 99%" in html and "flagged from 44%" in html
    assert "Not made for this study" in html
    for code in ("not_applicable", "0.435672", "probability 0.99", "RequestedProcedurePriority"):
        assert code not in html, code
    portal = _page(hospital_user_a, "/portal/")
    assert "ordered Urgent → STAT" in portal


def test_a_header_priority_reads_as_a_sentence(hospital_a, hospital_user_a):
    study = _refreshed(make_study(hospital_a, requested_procedure_priority="HIGH"))
    html = _page(hospital_user_a, f"/studies/{study.pk}/")
    assert "the request from the scanner marks it HIGH" in html
    assert "RequestedProcedurePriority" not in html
