"""The notify job tells every active contact of the level on every channel it has: the portal
(a row and a hint) and email, really sent over SMTP; failures are recorded, never raised."""

from __future__ import annotations

import pytest

from readingcenter.audit.models import AuditEvent
from readingcenter.critical.models import CriticalNotification, HospitalContact
from readingcenter.critical.services import critical_result_notify
from tests.critical.conftest import BLEED, SITE_URL, sign_with_findings

pytestmark = pytest.mark.django_db


def _record(result):
    return list(
        CriticalNotification.objects.filter(critical_result=result)
        .order_by("level", "channel", "recipient")
        .values_list("level", "channel", "recipient", "outcome")
    )


def test_the_level_one_contact_is_told_on_the_portal_and_by_email_over_smtp(
    hospital_a, radiologist, contacts_a, smtp
):
    report, [result] = sign_with_findings(hospital_a, radiologist, [BLEED])
    critical_result_notify(critical_result_id=result.pk)
    assert _record(result) == [
        (1, "email", "ed@alpha.example", "sent"),
        (1, "portal", "alpha.it", "sent"),
    ]
    assert all(
        n.sent_at is not None and n.contact_id == contacts_a[0].pk
        for n in result.notifications.all()
    )
    [mail] = smtp.to("ed@alpha.example")
    assert "CRITICAL RESULT" in mail.subject and "Category 1: within minutes" in mail.subject
    assert report.study.accession_number in mail.subject
    assert "Hong^Gildong" not in mail.subject  # no patient name where previews show it
    body = mail.body
    for expected in (
        "Hong, Gildong",
        f"patient ID {report.study.patient_id}",
        report.study.accession_number,
        BLEED["finding"],
        "Category 1: within minutes",
        "Dr Who, MD",
        f"{SITE_URL}/critical-results/{result.pk}/",
        f"/api/v1/critical-results/{result.pk}/acknowledge/",
        "call the reading center",
        "UTC+9",  # times in the hospital's zone (Asia/Seoul), with its offset
    ):
        assert expected in body, expected
    # Level 2 is not told before its time.
    assert smtp.to("chief@alpha.example") == []
    assert AuditEvent.objects.filter(action="critical_result.email", outcome="success").count() == 1


def test_running_the_notify_job_again_sends_nothing_twice(
    hospital_a, radiologist, contacts_a, smtp
):
    _report, [result] = sign_with_findings(hospital_a, radiologist, [BLEED])
    critical_result_notify(critical_result_id=result.pk)
    critical_result_notify(critical_result_id=result.pk)
    assert len(smtp.to("ed@alpha.example")) == 1
    assert result.notifications.count() == 2


def test_the_callback_number_comes_from_the_setting(
    hospital_a, radiologist, contacts_a, smtp, settings
):
    settings.CRITICAL_CALLBACK_PHONE = "+82 2 555 0199"
    _report, [result] = sign_with_findings(hospital_a, radiologist, [BLEED])
    critical_result_notify(critical_result_id=result.pk)
    assert "call the reading center on +82 2 555 0199" in smtp.to("ed@alpha.example")[0].body


def test_a_refused_address_is_recorded_as_failed_with_the_reason_and_the_job_goes_on(
    hospital_a, radiologist, contacts_a, smtp
):
    smtp.refuse.add("ed@alpha.example")
    HospitalContact.objects.create(
        hospital=hospital_a, level=1, name="Night nurse", email="nurse@alpha.example"
    )
    _report, [result] = sign_with_findings(hospital_a, radiologist, [BLEED])
    critical_result_notify(critical_result_id=result.pk)  # does not raise
    failed = result.notifications.get(recipient="ed@alpha.example")
    assert failed.outcome == "failed" and failed.sent_at is None
    assert "SMTPRecipientsRefused" in failed.detail and "mailbox unavailable" in failed.detail
    assert result.notifications.get(recipient="nurse@alpha.example").outcome == "sent"
    assert len(smtp.to("nurse@alpha.example")) == 1
    # The portal reached someone: no manager alert for this level.
    assert not result.notifications.filter(channel="manager").exists()


def test_a_dead_smtp_server_is_a_failure_on_record_not_a_crash(
    hospital_a, radiologist, contacts_a, smtp, settings
):
    from readingcenter.pacs.orthanc_server import free_port

    settings.EMAIL_PORT = free_port()  # nothing listens there
    _report, [result] = sign_with_findings(hospital_a, radiologist, [BLEED])
    critical_result_notify(critical_result_id=result.pk)
    email = result.notifications.get(channel="email")
    assert email.outcome == "failed" and "ConnectionRefusedError" in email.detail


def test_when_every_notification_of_a_level_fails_the_managers_are_alerted(
    hospital_a, radiologist, manager_with_email, smtp
):
    HospitalContact.objects.create(
        hospital=hospital_a, level=1, name="ED desk", phone="+82 2 555 0101",
        email="ed@alpha.example",
    )  # fmt: skip
    smtp.refuse.add("ed@alpha.example")
    _report, [result] = sign_with_findings(hospital_a, radiologist, [BLEED])
    critical_result_notify(critical_result_id=result.pk)
    critical_result_notify(critical_result_id=result.pk)  # and only once
    assert _record(result) == [
        (1, "email", "ed@alpha.example", "failed"),
        (1, "manager", "mgr@rc.example", "sent"),
    ]
    [alert] = smtp.to("mgr@rc.example")
    assert alert.subject.startswith("ESCALATED CRITICAL RESULT")
    assert "Every notification at level 1 failed" in alert.body
    assert "level 1: ED desk, phone +82 2 555 0101" in alert.body


def test_an_inactive_contact_or_a_foreign_portal_user_is_never_told(
    hospital_a, radiologist, contacts_a, hospital_user_b, smtp
):
    level1, _ = contacts_a
    level1.is_active = False
    level1.save()
    # A contact misconfigured with another hospital's user (the admin form refuses it).
    HospitalContact.objects.create(
        hospital=hospital_a, level=1, name="Wrong", user=hospital_user_b, email="w@alpha.example"
    )
    _report, [result] = sign_with_findings(hospital_a, radiologist, [BLEED])
    critical_result_notify(critical_result_id=result.pk)
    assert _record(result) == [(1, "email", "w@alpha.example", "sent")]
