"""Repeated failed sign-ins lock a username; a manager unlocks it; every step is audited."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from readingcenter.accounts.models import SignInFailure
from readingcenter.audit.models import AuditEvent
from tests.conftest import current_code, second_factor_device_for

GOOD = "correct-horse-battery"


def _sign_in(client: Client, username: str, password: str):
    return client.post("/login/", {"username": username, "password": password})


@pytest.mark.django_db
def test_five_failures_lock_the_username_even_against_the_right_password(radiologist, settings):
    client = Client()
    for _ in range(settings.SIGN_IN_MAX_FAILURES - 1):
        answer = _sign_in(client, "dr.who", "wrong")
        assert "didn&#x27;t match" in answer.content.decode()
    assert AuditEvent.objects.filter(action="user.locked").count() == 0

    _sign_in(client, "dr.who", "wrong")  # the fifth
    answer = _sign_in(client, "dr.who", GOOD)
    page = answer.content.decode()
    assert answer.status_code == 200  # the form again, not a redirect into the app
    assert "Too many failed sign-ins" in page and "ask a reading-center manager" in page
    assert "_auth_user_id" not in client.session
    locked = AuditEvent.objects.get(action="user.locked")
    assert locked.detail["username"] == "dr.who"
    assert SignInFailure.objects.filter(username="dr.who").count() == settings.SIGN_IN_MAX_FAILURES


@pytest.mark.django_db
def test_the_lock_ends_by_itself_after_its_time(radiologist, settings):
    client = Client()
    for _ in range(settings.SIGN_IN_MAX_FAILURES):
        _sign_in(client, "dr.who", "wrong")
    past = timezone.now() - dt.timedelta(minutes=settings.SIGN_IN_LOCK_MINUTES + 1)
    SignInFailure.objects.update(at=past)
    answer = _sign_in(client, "dr.who", GOOD)
    assert answer.status_code == 302
    assert not SignInFailure.objects.filter(username="dr.who").exists()  # cleared by success


@pytest.mark.django_db
def test_an_unknown_username_is_locked_the_same_way(settings):
    client = Client()
    for _ in range(settings.SIGN_IN_MAX_FAILURES):
        _sign_in(client, "nobody.here", "guess")
    # The same answer as for a real account: the lock does not tell who exists.
    assert "Too many failed sign-ins" in _sign_in(client, "nobody.here", "guess").content.decode()


@pytest.mark.django_db
def test_a_manager_unlocks_a_user_in_the_admin(radiologist, manager, settings):
    manager.is_staff = manager.is_superuser = True
    manager.save()
    for _ in range(settings.SIGN_IN_MAX_FAILURES):
        _sign_in(Client(), "dr.who", "wrong")
    admin = Client()
    admin.force_login(manager)
    answer = admin.post(
        "/admin/accounts/user/",
        {"action": "unlock", "_selected_action": [radiologist.pk], "index": 0, "select_across": 0},
        follow=True,
    )
    assert "Unlocked dr.who: 5 failed sign-ins cleared" in answer.content.decode()
    unlock = AuditEvent.objects.get(action="user.unlock")
    assert unlock.actor_id == manager.pk and unlock.detail["failures_cleared"] == 5
    assert _sign_in(Client(), "dr.who", GOOD).status_code == 302


@pytest.mark.django_db
def test_the_admin_sign_in_page_is_locked_too(radiologist, settings):
    for _ in range(settings.SIGN_IN_MAX_FAILURES):
        _sign_in(Client(), "dr.who", "wrong")
    answer = Client().post("/admin/login/", {"username": "dr.who", "password": GOOD})
    assert "Too many failed sign-ins" in answer.content.decode()


@pytest.mark.django_db
def test_an_idle_session_ends_and_use_keeps_it_alive(radiologist, settings):
    client = Client()
    assert _sign_in(client, "dr.who", GOOD).status_code == 302
    code = current_code(second_factor_device_for(radiologist))
    assert client.post("/login/verify/", {"token": code}).status_code == 302
    assert client.get("/worklist/").status_code == 200
    session = Session.objects.get()
    remaining = (session.expire_date - timezone.now()).total_seconds()
    assert settings.SESSION_COOKIE_AGE - 120 < remaining <= settings.SESSION_COOKIE_AGE
    # Idle past the limit: the next request is sent to sign in again.
    Session.objects.update(expire_date=timezone.now() - dt.timedelta(seconds=1))
    answer = client.get("/worklist/")
    assert answer.status_code == 302 and answer["Location"].startswith("/login/")


def test_passwords_follow_djangos_rules():
    for weak in ["password123", "12345678901234", "short1!"]:
        with pytest.raises(ValidationError):
            validate_password(weak)
    validate_password("amber-lantern-over-quiet-hills")
