"""A STAT case nobody on duty may read alerts the managers once: on their pages and by a real
e-mail, whatever the number of passes and workers."""

from __future__ import annotations

import pytest
from django.test import Client

from readingcenter.audit.models import AuditEvent
from readingcenter.sla.models import CoverageAlert, SlaNotification
from readingcenter.sla.services import sla_alert_uncovered
from tests.critical.smtp_sink import SmtpSink
from tests.factories import make_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def smtp(settings):
    """Mail goes over real SMTP to a server on a free loopback port."""
    sink = SmtpSink().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    yield sink
    sink.stop()


@pytest.fixture
def managers(manager):
    manager.email = "mgr@rc.example"
    manager.save(update_fields=["email"])
    return [manager]


def test_an_uncovered_stat_case_alerts_each_manager_once(hospital_a, managers, smtp):
    stat = make_case(hospital_a, priority="stat", modalities=["CR"], body_part_examined="CHEST",
                     patient_name="Hong^Gildong", study_description="CHEST PA")  # fmt: skip
    make_case(hospital_a, priority="routine")  # uncovered too, but not worth a page

    assert sla_alert_uncovered() == [stat.pk]
    assert sla_alert_uncovered() == []  # the next minute's pass: nothing new

    alert = CoverageAlert.objects.get()
    assert alert.case == stat and alert.recipients == ["mgr"]
    assert "no radiologist on duty who may read it" in alert.message
    in_app = SlaNotification.objects.get(channel="in_app")
    assert (in_app.recipient, in_app.coverage_alert, in_app.escalation) == (
        managers[0],
        alert,
        None,
    )
    (mail,) = smtp.to("mgr@rc.example")
    assert mail.subject.startswith("[Coverage] Alpha Regional: STAT case")
    assert "Hong" not in mail.subject + mail.body  # no patient name by e-mail
    assert SlaNotification.objects.get(channel="email").outcome == "sent"
    assert (
        AuditEvent.objects.filter(action="case.coverage_alert", target_id=str(stat.pk)).count() == 1
    )

    client = Client()
    client.force_login(managers[0])
    page = client.get("/sla/notifications/").content.decode()
    assert alert.message in page


def test_a_covered_stat_case_alerts_nobody(hospital_a, managers, radiologist, smtp):
    import datetime as dt

    from django.utils import timezone

    from readingcenter.accounts.models import Shift

    now = timezone.now()
    Shift.objects.create(radiologist=radiologist, starts_at=now - dt.timedelta(hours=1),
                         ends_at=now + dt.timedelta(hours=1))  # fmt: skip
    make_case(hospital_a, priority="stat")
    assert sla_alert_uncovered() == []
    assert not CoverageAlert.objects.exists() and smtp.messages == []
