from __future__ import annotations

from django.core.management import call_command
from rest_framework.test import APIClient

from tests.conftest import current_code, second_factor_device_for


def test_the_api_token_command_makes_a_scoped_token_that_authenticates(hospital_user_a, capsys):
    call_command("api_token", "create", hospital_user_a.username, "--scope", "portal:read")
    key = capsys.readouterr().out.strip()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/studies/").status_code == 200


def test_a_browser_signs_in_with_a_session(client, manager):
    response = client.post("/login/", {"username": "mgr", "password": "correct-horse-battery"})
    assert response.status_code == 302
    code = current_code(second_factor_device_for(manager))  # managers need the authenticator
    assert client.post("/login/verify/", {"token": code}).status_code == 302
    assert client.get("/studies/").status_code == 200


def test_the_openapi_schema_and_docs_are_served(client, manager):
    client.force_login(manager)
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/studies/" in schema.content
    assert client.get("/api/docs/").status_code == 200


def test_sign_ins_and_failed_sign_ins_are_audited(client, manager):
    from readingcenter.audit.models import AuditEvent

    client.post("/login/", {"username": "mgr", "password": "wrong"})
    client.post("/login/", {"username": "mgr", "password": "correct-horse-battery"})
    events = list(AuditEvent.objects.filter(action="user.login").values_list("outcome", "detail"))
    assert ("denied", {"username": "mgr"}) in events
    assert ("success", {}) in events


def test_a_hospital_created_in_the_admin_is_audited(client, manager):
    from readingcenter.audit.models import AuditEvent

    manager.is_staff = manager.is_superuser = True
    manager.save()
    client.force_login(manager)
    response = client.post("/admin/hospitals/hospital/add/", {
        "name": "Admin Made", "code": "admin-made", "time_zone": "UTC", "report_language": "en",
        "is_active": "on",
        "ae_titles-TOTAL_FORMS": "1", "ae_titles-INITIAL_FORMS": "0",
        "ae_titles-0-ae_title": "ADMIN_MADE",
        # The page's other inlines (HL7 facilities, the hospital's PACS), left empty.
        "hl7_facilities-TOTAL_FORMS": "0", "hl7_facilities-INITIAL_FORMS": "0",
        "pacs-TOTAL_FORMS": "0", "pacs-INITIAL_FORMS": "0"})  # fmt: skip
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="hospital.create", actor=manager,
                                     detail__via="admin").exists()  # fmt: skip
