"""Each look at the hospital's patient data through the portal leaves a line on the trail:
the page, the orders, the export, the API list and a study read (and a 404 as not found)."""

from __future__ import annotations

from django.test import Client

from readingcenter.audit.models import AuditEvent
from tests.conftest import api_as


def test_each_view_leaves_an_audit_line(journey, hospital_user_a, hospital_a):
    client = Client()
    client.force_login(hospital_user_a)
    client.get("/portal/?status=final")
    client.get("/portal/orders/")
    b"".join(client.get("/portal/studies.csv").streaming_content)
    api = api_as(hospital_user_a)
    api.get("/api/v1/portal/studies/")
    study = journey["final"]
    api.get(f"/api/v1/portal/studies/{study.pk}/")
    api.get(f"/api/v1/portal/studies/{journey['beta'].pk}/")

    events = list(
        AuditEvent.objects.filter(actor=hospital_user_a).exclude(action="user.login").order_by("id")
    )
    assert [(e.action, e.outcome) for e in events] == [
        ("study.list", "success"),
        ("order.list", "success"),
        ("study.export", "success"),
        ("study.list", "success"),
        ("study.read", "success"),
        ("study.read", "not_found"),
    ]
    assert events[0].detail["filters"] == {"status": "final"}
    assert all(e.hospital_id == hospital_a.pk for e in events[:5])
    assert (events[4].target_id, events[4].patient_id) == (str(study.pk), study.patient_id)
