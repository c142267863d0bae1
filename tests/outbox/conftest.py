"""Signed reports owed to a hospital whose systems the tests start, stop and start again."""

from __future__ import annotations

import pytest

from readingcenter.delivery.models import Channel, DeliveryEndpoint
from readingcenter.delivery.services import delivery_drain
from readingcenter.reports.services import (
    critical_prompts,
    report_open_draft,
    report_save,
    report_sign,
    report_templates_load,
)
from readingcenter.worklist.services import case_claim
from simulator.hospital_systems import FhirServer, InterfaceEngine, Pacs
from tests.factories import make_case
from tests.reports.conftest import filled_findings

PASSWORD = "correct-horse-battery"


def sign_new_report(hospital, radiologist, *, impression: str, kind: str = "final", **study):
    """A study arrives, is claimed, drafted and signed, as a radiologist does it: the template's
    headings written in, and a critical finding the impression names answered as one the
    referrer already knows (these tests are about what is sent, not about critical results)."""
    case = make_case(hospital, modalities=["CT"], body_part_examined="HEAD", version=1, **study)
    case_claim(case_id=case.pk, user=radiologist)
    draft = report_open_draft(case_id=case.pk, user=radiologist)
    changes = {"impression": impression, "findings": filled_findings(draft)}
    saved = report_save(report_id=draft.pk, user=radiologist, revision=draft.revision,
                        changes=changes)  # fmt: skip
    known = [
        {"key": p["key"], "decision": "not_critical", "reason": "known to the referrer"}
        for p in critical_prompts(saved)
    ]
    return report_sign(report_id=saved.pk, user=radiologist, password=PASSWORD, kind=kind,
                       critical_answers=known)  # fmt: skip


def drain_all(endpoint: DeliveryEndpoint, *, now=None):
    """What the drain job does, called in the test's own thread."""
    return delivery_drain(endpoint_id=endpoint.pk, now=now)


@pytest.fixture(autouse=True)
def _templates(db):
    report_templates_load()


@pytest.fixture
def engine():
    started = InterfaceEngine()
    yield started
    started.stop()


@pytest.fixture
def fhir():
    started = FhirServer()
    yield started
    started.stop()


@pytest.fixture
def pacs(tmp_path):
    started = Pacs(ae_title="ALPHA_PACS", folder=tmp_path / "pacs").start()
    yield started
    started.stop()


def hl7_endpoint(hospital, engine) -> DeliveryEndpoint:
    return DeliveryEndpoint.objects.create(
        hospital=hospital, channel=Channel.HL7, name="Interface engine", host="127.0.0.1",
        port=engine.port, receiving_application="RIS", receiving_facility=hospital.code,
        timeout_seconds=3,
    )  # fmt: skip


def fhir_endpoint(hospital, fhir) -> DeliveryEndpoint:
    return DeliveryEndpoint.objects.create(
        hospital=hospital, channel=Channel.FHIR, name="FHIR server", base_url=fhir.base_url,
        timeout_seconds=3,
    )  # fmt: skip


def pacs_endpoint(hospital, pacs) -> DeliveryEndpoint:
    return DeliveryEndpoint.objects.create(
        hospital=hospital, channel=Channel.DICOM, name="PACS", ae_title=pacs.ae_title,
        host="127.0.0.1", port=pacs.port,
    )  # fmt: skip
