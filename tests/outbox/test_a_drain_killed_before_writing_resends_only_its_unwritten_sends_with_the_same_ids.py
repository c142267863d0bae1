"""A drain writes its outcomes a few at a time (services.RECORD_BATCH). If it dies between some
sends and their write, those deliveries are still pending: the next drain sends them again,
in order, with the same message control IDs (the hospital's engine drops copies by MSH-10),
and nothing else is sent twice."""

from __future__ import annotations

import hl7
import pytest

from readingcenter.delivery import services
from readingcenter.delivery.models import Delivery, DeliveryAttempt
from tests.outbox.conftest import drain_all, hl7_endpoint, sign_new_report


class WorkerKilled(Exception):
    """Stands for the worker process dying: the test cannot kill its own process."""


def _received(engine) -> list[tuple[str, str]]:
    messages = [hl7.parse(m) for m in engine.received]
    return [(str(m.segment("OBR")[3]).split("^")[0], str(m.segment("MSH")[10])) for m in messages]


@pytest.mark.django_db(transaction=True)
def test_only_the_unwritten_sends_are_sent_again(hospital_a, radiologist, engine, monkeypatch):
    endpoint = hl7_endpoint(hospital_a, engine)
    for n in range(7):
        sign_new_report(hospital_a, radiologist, impression=f"Report {n}.",
                        accession_number=f"K-{n}")  # fmt: skip
    monkeypatch.setattr(services, "RECORD_BATCH", 3)
    monkeypatch.setattr(services, "RECORD_SECONDS", 3600.0)
    real_write, writes = services._write, []

    def dies_at_the_second_write(tries):
        if tries and writes:
            raise WorkerKilled
        writes.append([done.delivery.id for done in tries])
        return real_write(tries)

    monkeypatch.setattr(services, "_write", dies_at_the_second_write)
    with pytest.raises(WorkerKilled):
        drain_all(endpoint)
    first = _received(engine)
    assert [accession for accession, _ in first] == [f"K-{n}" for n in range(6)]
    assert Delivery.objects.filter(state="delivered").count() == 3  # the first write only

    monkeypatch.setattr(services, "_write", real_write)
    result = drain_all(endpoint)  # the next drain, the lock free again
    everything = _received(engine)
    again = everything[len(first) :]
    # The three unwritten ones again, in order, then the one never sent; nothing else twice.
    assert [accession for accession, _ in again] == ["K-3", "K-4", "K-5", "K-6"]
    assert again[:3] == first[3:6]  # the same control IDs: copies the engine can drop
    assert len(result.delivered) == 4
    assert set(Delivery.objects.values_list("state", flat=True)) == {"delivered"}
    # Each delivery has one attempt on record: the lost write's tries left no trace.
    assert DeliveryAttempt.objects.count() == 7
