"""Live hints over Channels with the real Redis layer: who gets them, and who never does."""

from __future__ import annotations

import uuid

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator

from readingcenter.asgi import application
from readingcenter.studies.consumers import StudyHintConsumer
from readingcenter.studies.hints import send_study_changed


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


async def _connect(user):
    communicator = WebsocketCommunicator(StudyHintConsumer.as_asgi(), "/ws/studies/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    return communicator, connected


def _hint_reaches(user, *, hospital_id) -> bool:
    async def scenario():
        communicator, connected = await _connect(user)
        if not connected:
            return None
        await sync_to_async(send_study_changed)(42, "complete", hospital_id)
        try:
            message = await communicator.receive_json_from(timeout=2)
        except TimeoutError:
            # The communicator cancels the consumer on a receive timeout: nothing to close.
            return False
        assert message == {"type": "study", "id": 42, "status": "complete"}
        await communicator.disconnect()
        return True

    return async_to_sync(scenario)()


def test_a_manager_gets_a_hint_for_any_hospitals_study(manager, hospital_a):
    assert _hint_reaches(manager, hospital_id=hospital_a.id) is True


def test_a_hospital_user_gets_hints_for_its_own_studies(hospital_user_a, hospital_a):
    assert _hint_reaches(hospital_user_a, hospital_id=hospital_a.id) is True


def test_a_hospital_user_never_hears_of_another_hospitals_study(hospital_user_b, hospital_a):
    assert _hint_reaches(hospital_user_b, hospital_id=hospital_a.id) is False


def test_an_anonymous_socket_is_refused(db):
    from django.contrib.auth.models import AnonymousUser

    assert _hint_reaches(AnonymousUser(), hospital_id=None) is None


def test_a_socket_from_a_foreign_origin_is_refused(db):
    async def scenario():
        communicator = WebsocketCommunicator(
            application, "/ws/studies/", headers=[(b"origin", b"https://evil.example")]
        )
        connected, _ = await communicator.connect()
        await communicator.disconnect()
        return connected

    assert async_to_sync(scenario)() is False


def test_a_committed_change_reaches_a_subscriber_through_the_background_sender(
    manager, hospital_a, hospital_user_a, django_capture_on_commit_callbacks
):
    from readingcenter.studies.services import order_create
    from tests.factories import make_study

    study = make_study(hospital_a, accession_number="HINT-1")

    async def scenario():
        communicator, connected = await _connect(manager)
        assert connected

        def post_order():
            with django_capture_on_commit_callbacks(execute=True):
                order_create(hospital=hospital_a, actor=hospital_user_a, accession_number="HINT-1",
                             requested_procedure="CT head", priority="STAT")  # fmt: skip

        await sync_to_async(post_order)()
        message = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return message

    assert async_to_sync(scenario)() == {"type": "study", "id": study.id, "status": "complete"}


def test_a_burst_of_hints_travels_as_one_bundle_and_arrives_as_each_hint_in_order(
    manager, hospital_a, monkeypatch, django_capture_on_commit_callbacks
):
    # A drain after an outage announces a delivery every few milliseconds: the background
    # sender gathers them, sends one message per group, and the socket unpacks it.
    from readingcenter.studies import hints

    sent = []
    real_send = hints._SenderLayer.send

    def counting_send(self, batch):
        sent.append(hints.bundled(batch))
        return real_send(self, batch)

    monkeypatch.setattr(hints._SenderLayer, "send", counting_send)
    study_ids = list(range(900_001, 900_041))

    async def scenario():
        communicator, connected = await _connect(manager)
        assert connected

        def burst():
            for study_id in study_ids:  # each in a transaction of its own, as a drain writes
                with django_capture_on_commit_callbacks(execute=True):
                    hints.on_commit_send(
                        ("study", study_id),
                        list(hints._study_messages(study_id, "delivery_delivered", hospital_a.id)),
                    )
            assert hints.drain(timeout=10)

        await sync_to_async(burst)()
        received = []
        for _ in study_ids:
            received.append(await communicator.receive_json_from(timeout=5))
        await communicator.disconnect()
        return received

    received = async_to_sync(scenario)()
    assert received == [
        {"type": "study", "id": study_id, "status": "delivery_delivered"} for study_id in study_ids
    ]
    # Far fewer trips than hints: each trip carries one message per group, bundles included.
    assert len(sent) < len(study_ids) / 4
    bundles = [m for trip in sent for m in trip.values() if m["type"] == hints.BUNDLE_TYPE]
    assert bundles, "a burst must travel as bundles"
