from __future__ import annotations

import threading

import hl7
import pytest
from django.db import connection

from readingcenter.delivery.models import Delivery
from tests.outbox.conftest import drain_all, hl7_endpoint, sign_new_report


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_number", range(2))
def test_racing_drains_send_each_report_once_in_order(
    round_number, hospital_a, radiologist, engine
):
    from readingcenter.reports.services import report_templates_load

    report_templates_load()
    endpoint = hl7_endpoint(hospital_a, engine)
    for n in range(8):
        sign_new_report(hospital_a, radiologist, impression=f"Report {n}.",
                        accession_number=f"R{round_number}-{n}")  # fmt: skip
    barrier = threading.Barrier(4)
    errors = []

    def worker():
        try:
            barrier.wait()
            drain_all(endpoint)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    drain_all(endpoint)  # whatever a busy worker left, a later drain sends
    accessions = [str(hl7.parse(m).segment("OBR")[3]).split("^")[0] for m in engine.received]
    assert accessions == [f"R{round_number}-{n}" for n in range(8)]
    assert set(Delivery.objects.values_list("state", flat=True)) == {"delivered"}
