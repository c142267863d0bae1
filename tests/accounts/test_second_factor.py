"""Radiologists and managers sign in with a password and an authenticator code (TOTP).

Through the real pages: the password step, the enrolment page with the key, the code, the
lockout that wrong codes share with wrong passwords, a hospital user's choice, a manager's
reset, and the live-update socket of a half-signed-in session.
"""

from __future__ import annotations

import re

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from readingcenter.asgi import application
from readingcenter.audit.models import AuditEvent
from tests.conftest import current_code, second_factor_device_for

GOOD = "correct-horse-battery"


def _password_step(client: Client, username: str, then: str = "/worklist/"):
    return client.post(f"/login/?next={then}", {"username": username, "password": GOOD})


def _code_from_enrolment_page(page: str) -> str:
    """What the user's app shows after he types in the key the page gave him."""
    key = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', page).group(1).replace(" ", "")
    import base64

    totp = TOTP(base64.b32decode(key), 30, 0, 6, 0)
    return f"{totp.token():06d}"


@pytest.mark.django_db
def test_a_radiologist_enrolls_an_authenticator_at_first_sign_in(radiologist):
    client = Client()
    answer = _password_step(client, "dr.who")
    # The password alone opens nothing: every page sends him to the code step.
    assert client.get("/worklist/")["Location"].startswith("/login/verify/?next=/worklist/")
    refused = client.get("/api/v1/worklist/")
    assert refused.status_code == 403 and refused.json()["code"] == "second_factor_required"

    page = client.get(answer["Location"], follow=True).content.decode()
    assert "Set up your authenticator" in page
    assert "otpauth://totp/" in page
    code = _code_from_enrolment_page(page)

    wrong = client.post("/login/verify/", {"token": "000000", "next": "/worklist/"})
    assert "That code is not right" in wrong.content.decode()
    signed_in = client.post("/login/verify/", {"token": code, "next": "/worklist/"})
    assert signed_in.status_code == 302 and signed_in["Location"] == "/worklist/"
    assert client.get("/worklist/").status_code == 200
    assert TOTPDevice.objects.get(user=radiologist).confirmed
    actions = list(AuditEvent.objects.values_list("action", "outcome"))
    assert ("user.second_factor_enrolled", "success") in actions
    assert ("user.second_factor", "denied") in actions


@pytest.mark.django_db
def test_the_same_code_cannot_be_used_twice(radiologist):
    device = second_factor_device_for(radiologist)
    code = current_code(device)
    first = Client()
    _password_step(first, "dr.who")
    assert first.post("/login/verify/", {"token": code})["Location"] == "/"
    second = Client()
    _password_step(second, "dr.who")
    replay = second.post("/login/verify/", {"token": code})
    assert replay.status_code == 200 and "That code is not right" in replay.content.decode()


@pytest.mark.django_db
def test_wrong_codes_lock_the_account_like_wrong_passwords(radiologist):
    second_factor_device_for(radiologist)
    client = Client()
    _password_step(client, "dr.who")
    for _ in range(settings.SIGN_IN_MAX_FAILURES - 1):
        assert client.post("/login/verify/", {"token": "123456"}).status_code == 200
    locked = client.post("/login/verify/", {"token": "123456"})
    assert locked["Location"] == "/login/?locked=1"
    assert client.get("/worklist/")["Location"].startswith("/login/")  # signed out
    assert AuditEvent.objects.filter(action="user.locked").count() == 1
    # Locked: the right password does not even get to the code step.
    again = _password_step(Client(), "dr.who")
    assert "Too many failed sign-ins" in again.content.decode()


@pytest.mark.django_db
def test_a_hospital_user_chooses_whether_to_use_a_second_factor(hospital_user_a):
    client = Client()
    assert _password_step(client, hospital_user_a.username, then="/portal/")["Location"] == (
        "/portal/"
    )
    hospital_user_a.second_factor_chosen = True
    hospital_user_a.save()
    chosen = Client()
    answer = _password_step(chosen, hospital_user_a.username, then="/portal/")
    assert chosen.get(answer["Location"])["Location"].startswith("/login/verify/")


@pytest.mark.django_db
def test_a_manager_resets_a_lost_authenticator(radiologist, manager):
    second_factor_device_for(radiologist)
    manager.is_staff = manager.is_superuser = True
    manager.save()
    admin = Client()
    admin.force_login(manager)
    admin.post(
        "/admin/accounts/user/",
        {
            "action": "reset_second_factor",
            "_selected_action": [radiologist.pk],
            "index": 0,
            "select_across": 0,
        },
    )
    assert not TOTPDevice.objects.filter(user=radiologist).exists()
    reset = AuditEvent.objects.get(action="user.second_factor_reset")
    assert reset.actor_id == manager.pk and reset.detail["devices_removed"] == 1
    client = Client()
    _password_step(client, "dr.who")
    assert "Set up your authenticator" in client.get("/login/verify/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_session_without_the_code_gets_no_live_updates(radiologist):
    client = Client()
    _password_step(client, "dr.who")
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"

    async def connect():
        communicator = WebsocketCommunicator(
            application,
            "/ws/studies/",
            headers=[(b"cookie", cookie.encode()), (b"origin", b"http://127.0.0.1:8000")],
        )
        connected, _ = await communicator.connect()
        await communicator.disconnect()
        return connected

    assert async_to_sync(connect)() is False
    client.post("/login/verify/", {"token": current_code(second_factor_device_for(radiologist))})
    assert async_to_sync(connect)() is True
