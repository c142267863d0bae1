"""A critical result nobody at the hospital can be told about is itself an incident: the
managers are alerted at once, and the record says why."""

from __future__ import annotations

import pytest

from readingcenter.critical.models import HospitalContact
from readingcenter.critical.services import critical_result_notify
from tests.critical.conftest import BLEED, sign_with_findings

pytestmark = pytest.mark.django_db


def test_a_hospital_without_a_level_one_contact_alerts_the_managers_at_once(
    hospital_a, radiologist, manager_with_email, smtp
):
    _report, [result] = sign_with_findings(hospital_a, radiologist, [BLEED])
    critical_result_notify(critical_result_id=result.pk)
    [alert] = result.notifications.all()
    assert (alert.level, alert.channel, alert.contact_id) == (1, "manager", None)
    assert (alert.recipient, alert.outcome) == ("mgr@rc.example", "sent")
    assert "Alpha Regional has no active contact at this level" in alert.detail
    [mail] = smtp.to("mgr@rc.example")
    assert mail.subject.startswith("ESCALATED CRITICAL RESULT")
    assert "No contact at level 1 can be notified" in mail.body
    assert "none configured" in mail.body


def test_a_contact_with_only_a_phone_number_makes_the_managers_call(
    hospital_a, radiologist, manager_with_email, smtp
):
    HospitalContact.objects.create(
        hospital=hospital_a, level=1, name="ED charge nurse", phone="+82 2 555 0111"
    )
    _report, [result] = sign_with_findings(hospital_a, radiologist, [BLEED])
    critical_result_notify(critical_result_id=result.pk)
    [alert] = result.notifications.all()
    assert alert.channel == "manager"
    assert "call them (ED charge nurse: +82 2 555 0111)" in alert.detail
    assert "+82 2 555 0111" in smtp.to("mgr@rc.example")[0].body


def test_without_a_manager_email_the_alert_is_still_on_record(hospital_a, radiologist, manager):
    _report, [result] = sign_with_findings(hospital_a, radiologist, [BLEED])
    critical_result_notify(critical_result_id=result.pk)
    [alert] = result.notifications.all()
    assert (alert.channel, alert.outcome, alert.recipient_name) == ("manager", "failed", "managers")
    assert "No manager has an email address" in alert.detail
