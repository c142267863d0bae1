"""A follow-up the signed report recommends becomes a tracked item: the hospital's portal lists
it, a later study of the patient of that modality closes it, and an overdue one is e-mailed to
the hospital's users and the managers."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.db import transaction
from django.test import Client

from readingcenter import hooks
from readingcenter.audit.models import AuditEvent
from readingcenter.followups.models import FollowUp
from readingcenter.followups.services import followups_raise_overdue
from tests.conftest import api_as
from tests.factories import make_study
from tests.reports.conftest import PASSWORD, complete

pytestmark = pytest.mark.django_db(transaction=True)


def _arrives(hospital, patient_id: str, modality: str):
    study = make_study(hospital, patient_id=patient_id, modalities=[modality])
    with transaction.atomic():
        hooks.publish("studies.study_completed", study=study, version=1)
    return study


def test_a_recommended_follow_up_is_tracked_until_the_matching_study_arrives(
    draft, radiologist, hospital_a, hospital_user_a, hospital_user_b, manager
):
    impression = ("Small parafalcine meningioma, 8 mm. Follow-up MRI in 6 months is "
                  "recommended. 3개월 후 추적 CT 검사를 권고합니다.")  # fmt: skip
    complete(draft, radiologist, impression=impression)
    signing = {"password": PASSWORD, "kind": "final"}
    signed = api_as(radiologist).post(f"/api/v1/reports/{draft.pk}/sign/", signing, format="json")
    assert signed.status_code in (200, 201), signed.content
    items = {f.modality: f for f in FollowUp.objects.all()}
    assert set(items) == {"MR", "CT"}
    today = dt.date.today()
    assert items["MR"].due_date == today + dt.timedelta(days=180)
    assert items["CT"].language == "ko" and items["CT"].interval_days == 90

    # The hospital's portal lists them; another hospital's does not.
    portal = api_as(hospital_user_a).get("/api/v1/portal/follow-ups/").json()
    assert {row["modality"] for row in portal["results"]} == {"MR", "CT"}
    assert api_as(hospital_user_b).get("/api/v1/portal/follow-ups/").json()["count"] == 0
    page = Client()
    page.force_login(hospital_user_a)
    assert (
        "Follow-up MRI in 6 months is recommended."
        in page.get("/portal/follow-ups/").content.decode()
    )

    # A CT of the patient closes the CT one; the MR one waits for an MR.
    patient = draft.study.patient_id
    ct = _arrives(hospital_a, patient, "CT")
    _arrives(hospital_a, "SOMEONE-ELSE", "MR")
    items = {f.modality: f for f in FollowUp.objects.all()}
    assert (items["CT"].state, items["CT"].closed_by_id) == ("done", ct.pk)
    assert items["MR"].state == "open"

    # Past its due date, the MR one is raised once: the hospital's users and the managers.
    hospital_user_a.email, manager.email = "it@alpha.example", "mgr@center.example"
    hospital_user_a.save()
    manager.save()
    hospital_user_b.email = "it@beta.example"
    hospital_user_b.save()
    raised = followups_raise_overdue(today=items["MR"].due_date + dt.timedelta(days=1))
    assert [f.pk for f in raised] == [items["MR"].pk]
    assert sorted(m.to[0] for m in mail.outbox) == ["it@alpha.example", "mgr@center.example"]
    assert "Follow-up MRI in 6 months" in mail.outbox[0].body
    assert followups_raise_overdue(today=items["MR"].due_date + dt.timedelta(days=2)) == []
    event = AuditEvent.objects.get(action="followup.overdue")
    assert sorted(event.detail["notified"]) == ["it@alpha.example", "mgr@center.example"]
    # Late is still done: the MR arrives after the alert.
    _arrives(hospital_a, patient, "MR")
    assert FollowUp.objects.get(pk=items["MR"].pk).state == "done"
