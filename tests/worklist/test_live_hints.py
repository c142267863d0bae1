"""Worklist hints over Channels with the real Redis layer: after commit, only to those who may
see the case, never for a claim that rolled back."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.db import transaction

from readingcenter.asgi import application
from readingcenter.worklist import services
from readingcenter.worklist.consumers import WorklistHintConsumer
from tests.conftest import api_as
from tests.factories import make_case
from tests.hints import hints_during

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("own_redis_prefix")]


class Rollback(Exception):
    pass


def _hints_during(user, action, *, wait=2.0):
    """Connect as user, run action (sync, real commits), return every hint received."""
    return hints_during(
        WorklistHintConsumer, "/ws/worklist/", user, action, wait=wait, refused_ok=True
    )


def test_a_subscriber_gets_a_hint_after_a_claim_commits(hospital_a, radiologist, manager):
    case = make_case(hospital_a)
    assert _hints_during(manager, lambda: None, wait=0.3) == []
    hints = _hints_during(manager, lambda: services.case_claim(case_id=case.pk, user=radiologist))
    assert hints == [
        {"type": "case", "id": case.pk, "study": case.study_id, "state": "claimed",
         "priority": "routine", "event": "claimed"}
    ]  # fmt: skip


def test_no_hint_for_a_rolled_back_claim(hospital_a, radiologist, manager):
    case = make_case(hospital_a)

    def claim_then_fail():
        try:
            with transaction.atomic():
                services.case_claim(case_id=case.pk, user=radiologist)
                raise Rollback
        except Rollback:
            pass

    assert _hints_during(manager, claim_then_fail) == []
    case.refresh_from_db()
    assert case.state == "unread"


def test_a_radiologist_without_privileges_there_hears_nothing(
    hospital_a, hospital_b, radiologist, radiologist_b_only
):
    case_a = make_case(hospital_a)
    case_b = make_case(hospital_b)

    def claim_both():
        services.case_claim(case_id=case_a.pk, user=radiologist)
        services.case_claim(case_id=case_b.pk, user=radiologist)

    hints = _hints_during(radiologist_b_only, claim_both)
    assert [h["id"] for h in hints] == [case_b.pk]


def test_a_hospital_user_and_an_anonymous_socket_are_refused(hospital_a, hospital_user_a):
    from django.contrib.auth.models import AnonymousUser

    assert _hints_during(hospital_user_a, lambda: None) is None
    assert _hints_during(AnonymousUser(), lambda: None) is None


def test_an_api_client_subscribes_with_its_token_and_foreign_origins_are_refused(
    hospital_a, radiologist
):
    token = api_as(radiologist)._credentials["HTTP_AUTHORIZATION"].split()[1]

    async def scenario(origin: bytes, auth: bytes):
        communicator = WebsocketCommunicator(
            application,
            "/ws/worklist/",
            headers=[(b"origin", origin), (b"authorization", auth), (b"host", b"localhost")],
        )
        connected, _ = await communicator.connect()
        if connected:
            await communicator.disconnect()
        return connected

    assert async_to_sync(scenario)(b"http://localhost", f"Token {token}".encode()) is True
    assert async_to_sync(scenario)(b"http://localhost", b"Token not-a-token") is False
    assert async_to_sync(scenario)(b"https://evil.example", f"Token {token}".encode()) is False
