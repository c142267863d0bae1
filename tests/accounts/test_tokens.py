from __future__ import annotations

from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient


def test_drf_create_token_makes_a_token_that_authenticates(hospital_user_a, capsys):
    call_command("drf_create_token", hospital_user_a.username)
    token = Token.objects.get(user=hospital_user_a)
    assert token.key in capsys.readouterr().out
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get("/api/v1/studies/").status_code == 200


def test_a_browser_signs_in_with_a_session(client, manager):
    response = client.post("/login/", {"username": "mgr", "password": "correct-horse-battery"})
    assert response.status_code == 302
    assert client.get("/studies/").status_code == 200


def test_the_openapi_schema_and_docs_are_served(client, manager):
    client.force_login(manager)
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/studies/" in schema.content
    assert client.get("/api/docs/").status_code == 200
