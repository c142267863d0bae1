"""Live hints over Channels: "this study changed, refetch it". Never state.

Hints are sent after commit (a rolled-back change must not be announced) and at most once;
a lost hint only delays a page until its next refetch, so failures are logged, not raised.
All the hints of one transaction go out together: the follower changes dozens of studies per
batch, and one trip to Redis per study would cost more than the ingest itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time

from asgiref.sync import async_to_sync
from channels import DEFAULT_CHANNEL_LAYER
from django.conf import settings
from django.db import transaction

log = logging.getLogger(__name__)

ALL_STUDIES_GROUP = "studies.all"
_pending = threading.local()


def hospital_group(hospital_id: int) -> str:
    return f"studies.hospital.{hospital_id}"


def _study_messages(study_id: int, status: str, hospital_id: int | None):
    message = {"type": "study.hint", "study_id": study_id, "status": status}
    yield ALL_STUDIES_GROUP, message
    if hospital_id is not None:
        yield hospital_group(hospital_id), message


# A batch maps a key (("study", 12), ("case", 7)) to the messages it sends: a later change to
# the same object in the same transaction replaces the earlier hint instead of adding one.
Batch = dict[tuple[str, int], list[tuple[str, dict]]]


# What a group receives when a batch holds several hints for it: one message that the
# consumers (HintBundles) unpack into the hints, in order.
BUNDLE_TYPE = "hints.bundle"


def bundled(batch: Batch) -> dict[str, dict]:
    """The batch as one message per group: the hint itself, or a bundle of them.

    A drain after an outage announces a thousand deliveries, and each ``group_send`` is a
    trip to Redis and a Lua script: sending them one at a time cost the worker as much CPU as
    the deliveries themselves. A bundle is also one message in each socket's queue, where a
    thousand would overflow its capacity and be dropped.
    """
    by_group: dict[str, list[dict]] = {}
    for messages in batch.values():
        for group, message in messages:
            by_group.setdefault(group, []).append(message)
    return {
        group: messages[0] if len(messages) == 1 else {"type": BUNDLE_TYPE, "messages": messages}
        for group, messages in by_group.items()
    }


async def _send_all(layer, batch: Batch) -> None:
    for group, message in bundled(batch).items():
        await layer.group_send(group, message)


def send_batch(batch: Batch) -> None:
    """Send now, from this thread, through the process's channel layer."""
    from channels.layers import get_channel_layer

    if not batch:
        return
    try:
        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(_send_all)(layer, batch)
    except Exception as exc:  # noqa: BLE001 - Redis down must not fail ingest
        log.warning("could not send %d live hints: %s", len(batch), exc)


class _SenderLayer:
    """The background sender's own channel layer, in its own event loop, for the thread's life.

    async_to_sync ran each batch in a new event loop, and the channel layer opened a Redis
    connection per loop, so each batch paid for a connection. The layer is the sender's
    alone because Redis connections belong to the loop that opened them, and made again when
    the settings name another (tests give each test a prefix of its own).
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.layer, self.config = None, None

    def send(self, batch: Batch) -> None:
        from channels.layers import channel_layers

        try:
            config = settings.CHANNEL_LAYERS.get(DEFAULT_CHANNEL_LAYER)
            if self.layer is None or config != self.config:
                if self.layer is not None and hasattr(self.layer, "close_pools"):
                    self.loop.run_until_complete(self.layer.close_pools())
                self.layer, self.config = None, config
                if config is not None:
                    self.layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
            if self.layer is not None:
                self.loop.run_until_complete(_send_all(self.layer, batch))
        except Exception as exc:  # noqa: BLE001 - Redis down must not fail ingest
            log.warning("could not send %d live hints: %s", len(batch), exc)


def send_hints(hints: dict[int, tuple[str, int | None]]) -> None:
    send_batch({("study", sid): list(_study_messages(sid, *value)) for sid, value in hints.items()})


# Hints leave from a background thread: a trip to Redis through async_to_sync costs about as
# much as the database work of a whole ingest step, and nobody should wait for a hint.
_outbox: queue.SimpleQueue = queue.SimpleQueue()
_sender_lock = threading.Lock()
_sender: threading.Thread | None = None


_in_flight = 0
_idle = threading.Condition()


GATHER_SECONDS = 0.05


def _send_forever() -> None:
    global _in_flight
    sender = _SenderLayer()
    last_trip = -GATHER_SECONDS
    while True:
        batch, taken = dict(_outbox.get()), 1
        # A hint after a quiet spell goes at once (a claim reaches the other readers' pages in
        # milliseconds). In a stream, what comes until GATHER_SECONDS after the last trip
        # goes in the next one: a worker draining a backlog announces a delivery every few
        # milliseconds, and a trip per hint cost it a third of its CPU.
        until = last_trip + GATHER_SECONDS
        with contextlib.suppress(queue.Empty):
            while True:
                left = until - time.monotonic()
                batch.update(_outbox.get(timeout=left) if left > 0 else _outbox.get_nowait())
                taken += 1
        try:
            sender.send(batch)
        finally:
            last_trip = time.monotonic()
            with _idle:
                _in_flight -= taken
                _idle.notify_all()


def drain(timeout: float = 5.0) -> bool:
    """Wait until every hint handed to the background sender has gone (tests, shutdown)."""
    with _idle:
        return _idle.wait_for(lambda: _in_flight == 0, timeout)


def _enqueue(batch: Batch) -> None:
    global _sender
    if _sender is None or not _sender.is_alive():
        with _sender_lock:
            if _sender is None or not _sender.is_alive():
                _sender = threading.Thread(target=_send_forever, name="live-hints", daemon=True)
                _sender.start()
    global _in_flight
    with _idle:
        _in_flight += 1
    _outbox.put(batch)


def send_study_changed(study_id: int, status: str, hospital_id: int | None) -> None:
    send_hints({study_id: (status, hospital_id)})


def on_commit_send(key: tuple[str, int], messages: list[tuple[str, dict]]) -> None:
    """Send these (group, message) pairs once the outermost transaction commits.

    Coalesced per transaction and per key; nothing is sent if the transaction rolls back.
    """
    from django.db import connection

    batch = getattr(_pending, "batch", None)
    flush = getattr(_pending, "flush", None)
    # A rollback discards the registered flush with the transaction: start a new batch then.
    registered = flush is not None and any(entry[1] is flush for entry in connection.run_on_commit)
    if batch is None or not registered:
        batch = {}

        def flush():
            if _pending.batch is batch:
                _pending.batch = _pending.flush = None
            _enqueue(batch)

        _pending.batch, _pending.flush = batch, flush
        batch[key] = messages
        transaction.on_commit(flush)  # runs at once when no transaction is open
        return
    batch[key] = messages


def on_commit_study_changed(study) -> None:
    """Announce the study once the outermost transaction commits (coalesced per transaction)."""
    on_commit_send(
        ("study", study.id), list(_study_messages(study.id, study.status, study.hospital_id))
    )
