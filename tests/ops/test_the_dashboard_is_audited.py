"""Opening the dashboard (page or API) is on the audit trail; its refetches are not, or an
open tab would add a line every few seconds."""

from __future__ import annotations

from django.test import Client

from readingcenter.audit.models import AuditEvent
from tests.conftest import api_as


def test_opening_the_dashboard_is_audited_once_and_its_refetches_are_not(manager):
    client = Client()
    client.force_login(manager)
    client.get("/ops/")
    for _ in range(3):
        client.get("/ops/?partial=1")
    api_as(manager).get("/api/v1/ops/dashboard/")

    events = AuditEvent.objects.filter(actor=manager, action="ops.dashboard.read").order_by("id")
    assert [e.detail.get("via", "page") for e in events] == ["page", "api"]


def test_the_schema_documents_the_new_endpoints(manager):
    schema = api_as(manager).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for path in (
        "/api/v1/ops/dashboard/",
        "/api/v1/portal/studies/",
        "/api/v1/portal/studies/{id}/",
        "/api/v1/audit-events/",
    ):
        assert path in schema["paths"], path
