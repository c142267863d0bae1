"""Worklist hints over Channels with the real Redis layer: after commit, only to those who may
see the case, never for a claim that rolled back."""

from __future__ import annotations

import uuid

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.db import transaction

from readingcenter.asgi import application
from readingcenter.studies import hints
from readingcenter.worklist import services
from readingcenter.worklist.consumers import WorklistHintConsumer
from tests.conftest import api_as
from tests.factories import make_case

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _own_redis_prefix(settings):
    # A prefix of our own: a demo running on the same Redis never sees these hints.
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [settings.REDIS_URL], "prefix": f"test-{uuid.uuid4().hex}"},
        }
    }
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


class Rollback(Exception):
    pass


def _hints_during(user, action, *, wait=2.0):
    """Connect as user, run action (sync, real commits), return every hint received."""
    hints.drain()  # hints of the setup (cases opening) are gone before we subscribe

    async def scenario():
        communicator = WebsocketCommunicator(WorklistHintConsumer.as_asgi(), "/ws/worklist/")
        communicator.scope["user"] = user
        connected, _ = await communicator.connect()
        if not connected:
            return None
        await sync_to_async(action)()
        received = []
        while True:
            try:
                received.append(await communicator.receive_json_from(timeout=wait))
            except TimeoutError:
                return received  # the communicator cancels the consumer on a timeout

    return async_to_sync(scenario)()


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
    api_as(radiologist)  # creates the token
    token = radiologist.auth_token.key

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
