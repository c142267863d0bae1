"""The critical-results cast: Alpha's escalation list, a manager with an email address, a
real SMTP server on a loopback port, and signed reports built as the reports code signs them."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.utils import timezone

from readingcenter.critical.models import HospitalContact
from readingcenter.critical.services import critical_results_open
from readingcenter.reports.models import Report, ReportState
from tests.critical.smtp_sink import SmtpSink
from tests.factories import make_case

SITE_URL = "https://rc.example.org"
BLEED = {"finding": "Acute subdural haematoma with midline shift", "category": "minutes"}
PNEUMOTHORAX = {"finding": "Large right pneumothorax", "category": "hours"}
NODULE = {"finding": "Indeterminate 9 mm lung nodule", "category": "days"}


@pytest.fixture
def contacts_a(hospital_a, hospital_user_a) -> tuple[HospitalContact, HospitalContact]:
    """Level 1: Alpha's ED, on the portal (alpha.it) and by email; level 2: the chief, email."""
    level1 = HospitalContact.objects.create(
        hospital=hospital_a,
        level=1,
        name="ED attending",
        role="ED attending on duty",
        phone="+82 2 555 0101",
        email="ed@alpha.example",
        user=hospital_user_a,
    )
    level2 = HospitalContact.objects.create(
        hospital=hospital_a,
        level=2,
        name="Dr Chief",
        role="Chief of emergency medicine",
        phone="+82 2 555 0102",
        email="chief@alpha.example",
    )
    return level1, level2


@pytest.fixture
def manager_with_email(manager):
    manager.email = "mgr@rc.example"
    manager.first_name, manager.last_name = "Mina", "Park"
    manager.save(update_fields=["email", "first_name", "last_name"])
    return manager


@pytest.fixture
def smtp(settings):
    """Mail really goes over SMTP to a server listening on a free loopback port."""
    sink = SmtpSink().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = sink.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.SITE_URL = SITE_URL
    yield sink
    sink.stop()


def signed_report(
    hospital,
    signer,
    findings,
    *,
    case=None,
    kind="final",
    signed_at=None,
    parent=None,
    language="en",
    impression=None,
) -> Report:
    """A signed report row with the fields the database requires of one."""
    case = case or make_case(hospital, patient_name="Hong^Gildong", study_description="CT HEAD")
    version = Report.objects.filter(study=case.study).count() + 1
    report = Report(
        study=case.study,
        case=case,
        hospital=hospital,
        state=ReportState.SIGNED,
        kind=kind,
        parent=parent,
        findings="See impression.",
        impression=impression or "; ".join(item["finding"] for item in findings) or "Normal.",
        language=language,
        critical_findings=findings,
        author=signer,
        signed_by=signer,
        signed_at=signed_at or timezone.now(),
        signature_name="Dr Who, MD",
        signature_meaning="author",
        version_number=version,
    )
    report.content_sha256 = report.compute_sha256()
    report.save()
    return report


def sign_with_findings(hospital, signer, findings, **kwargs):
    """Sign as the reports code does: the results open inside the signing transaction."""
    with transaction.atomic():
        report = signed_report(hospital, signer, findings, **kwargs)
        results = critical_results_open(report=report, actor=signer)
    return report, results
