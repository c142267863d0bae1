"""API tokens: a hospital system's token does what its scopes say, until it expires or a
manager revokes it. Only the key's hash is stored; every make and revoke is audited."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from readingcenter.accounts.models import ApiToken
from readingcenter.accounts.services import TokenError, api_token_create, api_token_hash
from readingcenter.audit.models import AuditEvent

ORDER = {
    "accession_number": "TOK-1",
    "requested_procedure": "CT head without contrast",
    "priority": "STAT",
}


def _client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.mark.django_db
def test_a_portal_token_reads_but_cannot_send_orders(hospital_user_a, manager):
    token, key = api_token_create(
        hospital_user_a, name="portal reader", scopes=["portal:read"], days=30, actor=manager
    )
    client = _client(key)
    assert client.get("/api/v1/studies/").status_code == 200
    refused = client.post("/api/v1/orders/", ORDER, format="json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "token_scope"
    assert "orders:write" in refused.json()["detail"]
    # Nor anything of a manager's, whatever the role would allow.
    assert client.get("/api/v1/worklist/").json()["code"] == "token_scope"
    assert ApiToken.objects.get(pk=token.pk).key_hash == api_token_hash(key)
    assert key not in str(ApiToken.objects.filter(pk=token.pk).values().get())


@pytest.mark.django_db
def test_an_orders_token_sends_orders(hospital_user_a, manager):
    _, key = api_token_create(
        hospital_user_a, name="RIS", scopes=["orders:write"], days=30, actor=manager
    )
    assert _client(key).post("/api/v1/orders/", ORDER, format="json").status_code == 201


@pytest.mark.django_db
def test_an_expired_token_is_refused_saying_so(hospital_user_a, manager):
    token, key = api_token_create(
        hospital_user_a, name="old", scopes=["portal:read"], days=1, actor=manager
    )
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - dt.timedelta(hours=1))
    answer = _client(key).get("/api/v1/studies/")
    assert answer.status_code == 401
    assert answer.json()["code"] == "token_expired"
    assert "ask the reading center for a new one" in answer.json()["detail"]


@pytest.mark.django_db
def test_a_manager_revokes_a_token_in_the_admin_and_it_stops_at_once(hospital_user_a, manager):
    manager.is_staff = manager.is_superuser = True
    manager.save()
    admin = Client()
    admin.force_login(manager)
    made = admin.post(
        "/admin/accounts/apitoken/add/",
        {"user": hospital_user_a.pk, "name": "RIS feed", "scopes": ["orders:write", "portal:read"],
         "days": 90},
        follow=True,
    )  # fmt: skip
    page = made.content.decode()
    assert "Copy its key now" in page
    key = page.split("not shown again: ", 1)[1].split("<", 1)[0].strip()
    token = ApiToken.objects.get(name="RIS feed")
    assert _client(key).get("/api/v1/studies/").status_code == 200

    admin.post(
        "/admin/accounts/apitoken/",
        {"action": "revoke", "_selected_action": [token.pk], "index": 0, "select_across": 0},
    )
    answer = _client(key).get("/api/v1/studies/")
    assert answer.status_code == 401 and answer.json()["code"] == "token_revoked"
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"api_token.create", "api_token.revoke"} <= actions


@pytest.mark.django_db
def test_a_token_holds_only_scopes_its_role_may_hold(hospital_user_a, radiologist, manager):
    with pytest.raises(TokenError, match="may hold"):
        api_token_create(hospital_user_a, name="x", scopes=["management"], days=30, actor=manager)
    with pytest.raises(TokenError, match="1 to"):
        api_token_create(hospital_user_a, name="x", scopes=["portal:read"], days=0, actor=manager)
    token, _ = api_token_create(radiologist, name="dictation", scopes=["reading"], days=30,
                                actor=manager)  # fmt: skip
    assert token.scopes == ["reading"]


@pytest.mark.django_db
def test_the_command_lists_and_revokes(hospital_user_a, capsys):
    call_command("api_token", "create", hospital_user_a.username, "--scope", "portal:read")
    key = capsys.readouterr().out.strip()
    prefix = ApiToken.objects.get().prefix
    call_command("api_token", "list")
    assert f"{prefix}  live" in capsys.readouterr().out
    call_command("api_token", "revoke", prefix)
    assert _client(key).get("/api/v1/studies/").status_code == 401
