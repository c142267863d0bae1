"""Live hints in tests: a Redis prefix of the test's own, and what a socket hears."""

from __future__ import annotations

import uuid

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator

from readingcenter.studies import hints


@pytest.fixture
def own_redis_prefix(settings):
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


def hints_during(consumer, path: str, user, action, *, wait: float = 1.5, refused_ok=False):
    """Connect ``consumer`` at ``path`` as ``user``, run ``action`` (sync, real commits), and
    return every hint received until ``wait`` seconds pass quietly; None if refused (only
    with ``refused_ok``)."""
    hints.drain()

    async def scenario():
        communicator = WebsocketCommunicator(consumer.as_asgi(), path)
        communicator.scope["user"] = user
        connected, _ = await communicator.connect()
        if not connected:
            assert refused_ok, f"{path} refused {user}"
            return None
        await sync_to_async(action)()
        received = []
        while True:
            try:
                received.append(await communicator.receive_json_from(timeout=wait))
            except TimeoutError:
                return received

    return async_to_sync(scenario)()
