"""A drain writes each outcome right after its send (services._write). If it dies between a send
and its write, that delivery is still pending: the next drain sends it again, first, with the
same message control ID (the hospital's engine drops copies by MSH-10), and nothing else is
sent twice."""

from __future__ import annotations

import hl7
import pytest

from readingcenter.audit.models import AuditEvent
from readingcenter.delivery import services
from readingcenter.delivery.models import Delivery, DeliveryAttempt
from tests.outbox.conftest import drain_all, hl7_endpoint, sign_new_report


class WorkerKilled(Exception):
    """Stands for the worker process dying: the test cannot kill its own process."""


def _received(engine) -> list[tuple[str, str]]:
    messages = [hl7.parse(m) for m in engine.received]
    return [(str(m.segment("OBR")[3]).split("^")[0], str(m.segment("MSH")[10])) for m in messages]


@pytest.mark.django_db(transaction=True)
def test_only_the_unwritten_send_is_sent_again(hospital_a, radiologist, engine, monkeypatch):
    endpoint = hl7_endpoint(hospital_a, engine)
    for n in range(7):
        sign_new_report(hospital_a, radiologist, impression=f"Report {n}.",
                        accession_number=f"K-{n}")  # fmt: skip
    real_write, writes = services._write, []

    def dies_at_the_fourth_write(done):
        if len(writes) == 3:
            raise WorkerKilled
        writes.append(done.delivery.id)
        return real_write(done)

    monkeypatch.setattr(services, "_write", dies_at_the_fourth_write)
    with pytest.raises(WorkerKilled):
        drain_all(endpoint)
    first = _received(engine)
    assert [accession for accession, _ in first] == [f"K-{n}" for n in range(4)]
    assert Delivery.objects.filter(state="delivered").count() == 3

    monkeypatch.setattr(services, "_write", real_write)
    result = drain_all(endpoint)  # the next drain, the lock free again
    everything = _received(engine)
    again = everything[len(first) :]
    # The unwritten one again, then those never sent; nothing else twice.
    assert [accession for accession, _ in again] == ["K-3", "K-4", "K-5", "K-6"]
    assert again[0] == first[3]  # the same control ID: a copy the engine can drop
    assert len(result.delivered) == 4
    assert set(Delivery.objects.values_list("state", flat=True)) == {"delivered"}
    # Each delivery has one attempt on record: the lost write's tries left no trace.
    assert DeliveryAttempt.objects.count() == 7
    # And one audit line, written in the same statement as the attempt and the row.
    lines = AuditEvent.objects.filter(action="delivery.send").order_by("id")
    assert [line.detail["attempt"] for line in lines] == [1] * 7
    assert {line.detail["channel"] for line in lines} == {"hl7"}
    assert all(a.detail["seconds"] >= 0 for a in DeliveryAttempt.objects.all())
