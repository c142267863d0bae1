"""One e-mail path for SLA escalation and critical results: real SMTP to a loopback server,
and a failure that comes back as an answer instead of an exception."""

from __future__ import annotations

import pytest

from readingcenter.notifications.services import email_send
from readingcenter.pacs.orthanc_server import free_port
from tests.critical.smtp_sink import SmtpSink


@pytest.fixture
def smtp(settings):
    sink = SmtpSink().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    yield sink
    sink.stop()


def test_a_message_goes_out_from_the_default_address_unless_the_caller_names_one(smtp, settings):
    settings.DEFAULT_FROM_EMAIL = "rc@rc.example"
    assert email_send(to="ed@alpha.example", subject="Case 7", body="Please call.").sent
    assert email_send(to="mgr@rc.example", subject="s", body="b", from_email="sla@rc.example").sent
    [first] = smtp.to("ed@alpha.example")
    assert first.subject == "Case 7" and "Please call." in first.body
    assert first.message["From"] == "rc@rc.example"
    assert smtp.to("mgr@rc.example")[0].message["From"] == "sla@rc.example"


def test_a_refused_address_is_an_answer_not_an_exception(smtp):
    smtp.refuse.add("gone@alpha.example")
    result = email_send(to="gone@alpha.example", subject="s", body="b")
    assert not result.sent and result.error.startswith("SMTPRecipientsRefused")


def test_a_dead_smtp_server_is_an_answer_not_an_exception(smtp, settings):
    settings.EMAIL_PORT = free_port()  # nothing listens there
    result = email_send(to="ed@alpha.example", subject="s", body="b")
    assert not result.sent and "ConnectionRefusedError" in result.error
    assert len(result.error) <= 1000
