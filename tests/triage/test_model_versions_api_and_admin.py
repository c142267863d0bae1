"""Model versions over REST and in the admin: managers list them with their monitoring, pause
and resume them with a reason (audited, on the history); anyone else is refused, an unknown
version is 404, no reason is 400 with a stable code; the admin's actions ask why first."""

from __future__ import annotations

import pytest
from django.test import Client

from readingcenter.audit.models import AuditEvent
from tests.conftest import api_as
from tests.triage.monitoring_cast import model_version
from triage.models import ModelVersion, ModelVersionChange

pytestmark = pytest.mark.django_db
BASE = "/api/v1/triage/models/"


@pytest.fixture(autouse=True)
def _no_packages(settings):
    settings.TRIAGE_MODEL_DIRS = []


def test_a_manager_lists_pauses_and_resumes_with_a_reason(manager):
    model_version(version="2.0.0")
    api = api_as(manager)
    [row] = api.get(BASE).json()
    assert (row["model_name"], row["model_version"], row["state"]) == ("head-ct-ich", "2.0.0",
                                                                       "active")  # fmt: skip
    assert (
        row["expected"]["expected_positive_rate"] == 0.08 and not row["expected"]["defaults_used"]
    )
    assert [w["window"] for w in row["windows"]] == ["hour", "day"]
    missing = api.post(f"{BASE}head-ct-ich/2.0.0/pause/", {"reason": ""})
    assert missing.status_code == 400 and missing.json()["code"] == "invalid"
    blank = api.post(f"{BASE}head-ct-ich/2.0.0/pause/", {"reason": "   "})
    assert blank.status_code == 400
    paused = api.post(f"{BASE}head-ct-ich/2.0.0/pause/", {"reason": "shifted scanner"}).json()
    assert paused["state"] == "paused"
    assert paused["history"][0]["reason"] == "shifted scanner"
    detail = api.get(f"{BASE}head-ct-ich/2.0.0/").json()
    assert detail["state"] == "paused" and len(detail["history"]) == 1
    assert AuditEvent.objects.filter(
        action="triage.model_version.pause", actor_label="mgr"
    ).exists()


def test_others_are_refused_and_an_unknown_version_is_404(manager, radiologist, hospital_user_a):
    model_version(version="2.0.0")
    for user in (radiologist, hospital_user_a):
        api = api_as(user)
        assert api.get(BASE).status_code == 403
        assert api.post(f"{BASE}head-ct-ich/2.0.0/pause/", {"reason": "x"}).status_code == 403
    assert not ModelVersion.objects.get().is_paused
    assert api_as(manager).get(f"{BASE}head-ct-ich/9.0.0/").status_code == 404
    gone = api_as(manager).post(f"{BASE}head-ct-ich/9.0.0/pause/", {"reason": "x"})
    assert gone.status_code == 404 and gone.json()["code"] == "not_found"


def test_the_pause_history_cannot_be_rewritten(manager):
    from django.db import DatabaseError, transaction

    model_version(version="2.0.0")
    api_as(manager).post(f"{BASE}head-ct-ich/2.0.0/pause/", {"reason": "shifted scanner"})
    change = ModelVersionChange.objects.get()
    with pytest.raises(DatabaseError), transaction.atomic():
        ModelVersionChange.objects.filter(pk=change.pk).update(reason="nothing happened")
    with pytest.raises(DatabaseError), transaction.atomic():
        change.delete()


def test_the_admin_action_asks_why_then_pauses(manager):
    version = model_version(version="2.0.0")
    manager.is_staff = manager.is_superuser = True
    manager.save()
    client = Client()
    client.force_login(manager)
    url = "/admin/triage/modelversion/"
    asked = client.post(url, {"action": "pause_versions", "_selected_action": [version.pk]})
    assert asked.status_code == 200 and "Why: it goes on" in asked.content.decode()
    assert not ModelVersion.objects.get().is_paused
    apply = {"action": "pause_versions", "_selected_action": [version.pk], "apply": "1"}
    done = client.post(url, {**apply, "reason": "recalled by the vendor"}, follow=True)
    assert "Paused: 1 version(s)." in done.content.decode()
    assert ModelVersion.objects.get().is_paused
    assert ModelVersionChange.objects.get().reason == "recalled by the vendor"
    again = client.post(url, {**apply, "reason": "twice"}, follow=True)
    assert "is already paused" in again.content.decode()


def test_the_schema_documents_the_model_version_endpoints(manager):
    schema = api_as(manager).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for path in ["/api/v1/triage/models/",
                 "/api/v1/triage/models/{model_name}/{model_version}/",
                 "/api/v1/triage/models/{model_name}/{model_version}/pause/",
                 "/api/v1/triage/models/{model_name}/{model_version}/resume/"]:  # fmt: skip
        assert path in schema["paths"], path
    pause = schema["paths"]["/api/v1/triage/models/{model_name}/{model_version}/pause/"]["post"]
    assert {"200", "400", "404", "409"} <= set(pause["responses"])
