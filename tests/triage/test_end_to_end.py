"""End to end with the shipped models: a head CT with a bleed, sent by C-STORE, comes out of
the study API flagged and escalated; a head without one does not."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from pydicom.uid import generate_uid

from tests.triage.sending import head_run, send_and_triage
from tests.triage.series import smoke_study

SHIPPED = Path(django_settings.BASE_DIR) / "triage" / "packages"


@pytest.fixture
def shipped_models(settings):
    if not (SHIPPED / "head-ct-ich" / "model.json").exists():
        pytest.fail("the shipped head-ct-ich package is missing from triage/packages")
    settings.TRIAGE_MODEL_DIRS = [str(SHIPPED)]


def _head_ct(*, bleed: bool) -> list:
    return smoke_study("head-ct-ich", positive=bleed)


def test_a_head_ct_with_a_bleed_sent_by_c_store_reaches_the_api_flagged_and_escalated(
    orthanc, hospital_a, manager, shipped_models, tmp_path
):
    study = send_and_triage(_head_ct(bleed=True), orthanc, tmp_path)
    data, ich = head_run(manager, study)
    assert ich["status"] == "succeeded", ich["reason"]
    assert ich["flags"] == {"ich": True}, ich["probabilities"]
    assert data["priority"] == "stat"
    assert data["priority_reason"].startswith("AI head-ct-ich")
    assert "intracranial hemorrhage" in data["ai"]["draft_findings"][0]


def test_a_head_without_a_bleed_is_not_flagged_and_stays_routine(
    orthanc, hospital_a, manager, shipped_models, tmp_path
):
    study = send_and_triage(_head_ct(bleed=False), orthanc, tmp_path)
    data, ich = head_run(manager, study)
    assert ich["status"] == "succeeded", ich["reason"]
    assert ich["flags"] == {"ich": False}, ich["probabilities"]
    assert data["priority"] == "routine"
    assert data["ai"]["draft_findings"] == []
    # Every other model says why it did not run; none of it reads as a negative.
    assert all(run["status"] in {"succeeded", "not_applicable"} for run in data["ai"]["runs"])


def test_a_head_ct_with_and_without_contrast_is_read_on_its_plain_series(
    orthanc, hospital_a, manager, shipped_models, tmp_path
):
    # The same study sent with a contrast-enhanced series beside the plain one, numbered first
    # and with more slices; the model reads non-contrast CT, so it reads the plain series and
    # finds the bleed, instead of calling the whole study "not applicable".
    plain = _head_ct(bleed=True)
    enhanced_uid = generate_uid()
    enhanced = []
    for ds in plain + plain[:8]:
        copied = copy.deepcopy(ds)
        copied.SeriesInstanceUID, copied.SOPInstanceUID = enhanced_uid, generate_uid()
        copied.SeriesNumber, copied.ContrastBolusAgent = 1, "OMNIPAQUE 350"
        enhanced.append(copied)
    study = send_and_triage(enhanced + plain, orthanc, tmp_path)
    data, ich = head_run(manager, study)
    assert ich["status"] == "succeeded", ich["reason"]
    assert ich["flags"] == {"ich": True}, ich["probabilities"]
    assert data["priority"] == "stat"
